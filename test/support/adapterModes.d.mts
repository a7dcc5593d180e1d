import type { ElectroDynamoAdapterOptions } from '../../src/options.js';

export interface AdapterMode {
  readonly mode: 'default' | 'claim-on-miss';
  /** What the mode adds to an adapter's options. */
  readonly options: Readonly<Partial<ElectroDynamoAdapterOptions>>;
  /** Whether a flow's first `get` writes the lock. */
  readonly claimsOnGet: boolean;
}

export declare const ADAPTER_MODES: readonly AdapterMode[];
