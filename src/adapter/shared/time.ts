/** DynamoDB TTL wants epoch seconds; round up so the sweeper never removes an item early. */
export function toEpochSeconds(epochMs: number): number {
  return Math.ceil(epochMs / 1000);
}

/** An item counts until `validUntil` has passed: a record is expired once `now > createdAt + ttl`. */
export function isLive(validUntil: number, now: number): boolean {
  return now <= validUntil;
}
