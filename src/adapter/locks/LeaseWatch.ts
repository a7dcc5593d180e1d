import { publish } from '../../events/channels.js';

/** A request is at risk when it is answered with less than this fraction of its lease left. */
export const AT_RISK_FRACTION = 1 / 3;

/** The lease-bearing requests: each one is only safe while the lease it carries or extends lasts. */
export type LeaseRequest = 'claim' | 'renewal' | 'set' | 'release';

/** What one adapter instance has seen of its leases since it was made. */
export interface LeaseHealth {
  /** Lease-bearing requests answered (claims won, renewals, `set`s and releases of held keys). */
  readonly requests: number;
  /** Of those, answered with less than a third of their lease left (each published as `leaseAtRisk`). */
  readonly atRisk: number;
  /** Leases found lapsed: a request answered after the lease it carried had ended. Counted once per lease. */
  readonly lapsed: number;
  /** The largest request latency / lease length seen: above about a third, renewals start to land late. */
  readonly worstLatencyRatio: number;
}

/** The lease a request carries or extends. `lapseSeen` keeps one lapse from counting twice. */
export interface WatchedLease {
  readonly ttlMs: number;
  lapseSeen?: boolean;
  /** A fence's mark that carries the response answers as the record: no lease is kept for it. */
  readonly mark?: { readonly withRecord: boolean } | undefined;
}

/**
 * Tells the operator that requests have become as slow as the leases they carry, before the
 * leases start to lapse: a lease shorter than one request cannot be saved by renewal, and the
 * only fix (a longer `lockTtl`) is the operator's. Costs two subtractions per request while
 * nobody listens.
 */
export class LeaseWatch {
  private requests = 0;
  private atRisk = 0;
  private lapsed = 0;
  private worstLatencyRatio = 0;

  constructor(private readonly table: string) {}

  /**
   * A lease-bearing request sent at `sentAt` was answered now; the lease it protects ends at
   * `leaseEnd` (for a renewal: the lease it extends, which is what a late answer puts at risk).
   */
  observe(
    request: LeaseRequest,
    key: string,
    lease: WatchedLease,
    leaseEnd: number,
    sentAt: number,
  ): void {
    // Such a lease is not renewed and ends by design: judging it would raise false alarms.
    if (lease.mark?.withRecord) return;
    const answeredAt = Date.now();
    const leaseMs = lease.ttlMs;
    const latencyMs = answeredAt - sentAt;
    this.requests += 1;
    const ratio = latencyMs / leaseMs;
    if (ratio > this.worstLatencyRatio) this.worstLatencyRatio = ratio;
    const leftMs = leaseEnd - answeredAt;
    if (leftMs >= leaseMs * AT_RISK_FRACTION) return;
    this.atRisk += 1;
    const lapsed = leftMs < 0;
    if (lapsed && lease.lapseSeen !== true) {
      lease.lapseSeen = true;
      this.lapsed += 1;
    }
    publish('leaseAtRisk', () => ({
      table: this.table,
      key,
      request,
      latencyMs,
      leaseMs,
      leftMs,
      lapsed,
    }));
  }

  /** A lease ended with no request to tell (renewals kept failing until it lapsed). */
  countLapse(lease: WatchedLease): void {
    if (lease.lapseSeen === true) return;
    lease.lapseSeen = true;
    this.lapsed += 1;
  }

  health(): LeaseHealth {
    return {
      requests: this.requests,
      atRisk: this.atRisk,
      lapsed: this.lapsed,
      worstLatencyRatio: this.worstLatencyRatio,
    };
  }
}
