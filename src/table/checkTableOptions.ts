import type { ElectroDynamoAdapterOptions } from '../options.js';

/** The adapter's own options, so one options object serves both. */
export type CheckTableOptions = ElectroDynamoAdapterOptions;
