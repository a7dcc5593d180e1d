/**
 * The largest response the adapter stores: 10 MiB of response JSON, in UTF-8 bytes (the order
 * of API Gateway's payload cap). `set` refuses a larger one, and `get` inflates a compressed
 * response to at most this much, so the bound on reading is exactly the largest response the
 * adapter itself could have written: an item altered into a gzip bomb costs a reader at most
 * this, not whatever the bomb inflates to.
 */
export const MAX_RESPONSE_BYTES = 10 * 1024 * 1024;
