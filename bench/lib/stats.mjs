export function percentile(sortedSamples, p) {
  if (sortedSamples.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sortedSamples.length) - 1;
  return sortedSamples[Math.min(sortedSamples.length - 1, Math.max(0, rank))];
}

export function summarize(samplesMicros) {
  const sorted = [...samplesMicros].sort((a, b) => a - b);
  return { n: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
}

export const micros = (startNs) => Number(process.hrtime.bigint() - startNs) / 1_000;

export const ratio = (value, baseline) => (baseline > 0 ? value / baseline : Number.NaN);
