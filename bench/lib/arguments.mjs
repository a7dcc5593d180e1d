// The bench's command line: which backend, and the on-demand prices the cost figures use.
// Anything unknown is an error, so a typo never runs the wrong backend or prices quietly.
import { parseArgs } from 'node:util';
import { BACKENDS, DEFAULT_BACKEND } from './backends.mjs';

/**
 * DynamoDB on-demand prices, US East (N. Virginia), Standard table class, in US dollars per
 * million request units, as AWS published them from 2024-11-01 (its on-demand price cut). They
 * are parameters: pass the day's prices for your region with their date.
 */
export const DEFAULT_PRICES = Object.freeze({
  readPerMillion: 0.125,
  writePerMillion: 0.625,
  date: '2024-11-01',
  where: 'us-east-1, Standard table class',
});

const USAGE =
  'usage: [--backend dynalite|dynamodb-local] [--read-price USD] [--write-price USD] [--prices-date YYYY-MM-DD] [--prices-where TEXT]';

function price(name, raw) {
  const value = Number(raw);
  if (raw === '' || !Number.isFinite(value) || value < 0) {
    throw new Error(`--${name} must be a price in US dollars per million units (got ${raw})`);
  }
  return value;
}

/**
 * The run's backend (`--backend`, else BENCH_BACKEND, else dynalite) and prices (`--read-price`,
 * `--write-price` per million read / write request units, `--prices-date` when they were
 * taken, `--prices-where` for what; else BENCH_READ_PRICE, BENCH_WRITE_PRICE,
 * BENCH_PRICES_DATE, BENCH_PRICES_WHERE; else DEFAULT_PRICES).
 */
export function parseBenchArguments(argv, env) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        backend: { type: 'string' },
        'read-price': { type: 'string' },
        'write-price': { type: 'string' },
        'prices-date': { type: 'string' },
        'prices-where': { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new Error(`${error.message}; ${USAGE}`);
  }
  const backend = values.backend ?? (env.BENCH_BACKEND || DEFAULT_BACKEND);
  if (!BACKENDS.includes(backend)) {
    throw new Error(
      `unknown backend ${JSON.stringify(backend)}; use one of ${BACKENDS.join(', ')}`,
    );
  }
  const readRaw = values['read-price'] ?? env.BENCH_READ_PRICE;
  const writeRaw = values['write-price'] ?? env.BENCH_WRITE_PRICE;
  const date = values['prices-date'] ?? env.BENCH_PRICES_DATE;
  const custom = readRaw !== undefined || writeRaw !== undefined;
  if (custom && date === undefined) {
    throw new Error('prices need the date they were taken: --prices-date YYYY-MM-DD');
  }
  const prices = {
    readPerMillion:
      readRaw === undefined ? DEFAULT_PRICES.readPerMillion : price('read-price', readRaw),
    writePerMillion:
      writeRaw === undefined ? DEFAULT_PRICES.writePerMillion : price('write-price', writeRaw),
    date: date ?? DEFAULT_PRICES.date,
    where:
      values['prices-where'] ??
      env.BENCH_PRICES_WHERE ??
      (custom ? 'as given' : DEFAULT_PRICES.where),
  };
  return { backend, prices };
}
