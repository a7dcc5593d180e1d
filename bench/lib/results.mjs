// RESULTS.md holds one section per backend, each written by a run on that backend: a run
// replaces its own section and keeps the others as they are.
import { BACKEND_TITLES, BACKENDS } from './backends.mjs';

const open = (name) => `<!-- bench-section ${name} -->`;
const close = (name) => `<!-- /bench-section ${name} -->`;

const PREAMBLE = [
  '# Benchmark results',
  '',
  'One section per backend, each written by a run on that backend; a run replaces only its own',
  'section. CPU and heap are measured on stub clients, whatever the backend, so those figures',
  'differ between the sections by noise only.',
  '',
  '- dynalite: `npm run bench` (the default; same as `npm run bench -- --backend dynalite`)',
  '- DynamoDB Local: `npm run bench:dynamodb-local` (same as',
  '  `npm run bench -- --backend dynamodb-local`; needs Java 17 or newer)',
  '',
].join('\n');

const placeholder = (name) =>
  [
    `## ${BACKEND_TITLES[name]}`,
    '',
    `Not run yet: \`npm run bench -- --backend ${name}\` writes this section.`,
    '',
  ].join('\n');

/** The sections a RESULTS.md holds, by backend name; none for a file without the markers. */
export function readSections(text) {
  const sections = new Map();
  for (const name of BACKENDS) {
    const start = text.indexOf(open(name));
    const end = text.indexOf(close(name));
    if (start === -1 || end < start) continue;
    sections.set(name, text.slice(start + open(name).length, end).trim());
  }
  return sections;
}

/** The whole file with `name`'s section set to `section` (markdown, starting at its `##`). */
export function withSection(existing, name, section) {
  const sections = readSections(existing);
  sections.set(name, section.trim());
  const parts = [PREAMBLE];
  for (const backend of BACKENDS) {
    parts.push(
      open(backend),
      '',
      sections.get(backend) ?? placeholder(backend).trim(),
      '',
      close(backend),
      '',
    );
  }
  return parts.join('\n');
}

/**
 * A markdown table with its columns padded to one width, as the repository's formatter lays
 * them out. `align` holds 'l' or 'r' per column.
 */
export function table(header, align, rows) {
  const cells = [header, ...rows].map((row) => row.map(String));
  const widths = header.map((_, i) => Math.max(3, ...cells.map((row) => row[i].length)));
  const pad = (text, i) => (align[i] === 'r' ? text.padStart(widths[i]) : text.padEnd(widths[i]));
  const line = (row) => `| ${row.map(pad).join(' | ')} |`;
  const rule = widths.map((w, i) => (align[i] === 'r' ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w)));
  return [line(cells[0]), `| ${rule.join(' | ')} |`, ...cells.slice(1).map(line)];
}
