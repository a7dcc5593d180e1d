import type { TableCheck, TableCheckReport } from '../table/tableCheck.js';

const LABELS = { pass: 'PASS', warn: 'WARN', fail: 'FAIL' } as const;

// Wide enough for the longest check name, "table exists", plus a gap.
const NAME_WIDTH = 15;

/** `PASS  table exists   Table "T" is ACTIVE`: status, name and message in fixed columns. */
export function formatCheck(check: TableCheck): string {
  return `${LABELS[check.status]}  ${check.name.padEnd(NAME_WIDTH)}${check.message}`;
}

/** One line: the verdict, then how many checks passed, warned and failed. */
export function formatSummary(report: TableCheckReport, table: string, prefix: string): string {
  const tally = (status: TableCheck['status']) =>
    report.checks.filter((check) => check.status === status).length;
  const warnings = tally('warn');
  const counts = `${tally('pass')} passed, ${warnings} warning${warnings === 1 ? '' : 's'}, ${tally('fail')} failed`;
  return report.ok
    ? `Ready: table "${table}" can hold idempotency items under prefix "${prefix}" (${counts})`
    : `Not ready: fix the failed check${tally('fail') === 1 ? '' : 's'} above (${counts})`;
}
