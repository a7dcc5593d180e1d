// The lease watch's figures (`adapter.leaseHealth()`) of several adapters or processes as one:
// the counts add up, the worst latency / lease ratio is the largest.

export function sumLeaseHealth(healths) {
  const total = { requests: 0, atRisk: 0, lapsed: 0, worstLatencyRatio: 0 };
  for (const health of healths) {
    total.requests += health.requests;
    total.atRisk += health.atRisk;
    total.lapsed += health.lapsed;
    total.worstLatencyRatio = Math.max(total.worstLatencyRatio, health.worstLatencyRatio);
  }
  return total;
}
