import { parseArgs } from 'node:util';
import type { CheckTableOptions } from '../table/checkTableOptions.js';
import type { CreateIdempotencyTableOptions } from '../table/createTable.js';

const OPTIONS = {
  table: { type: 'string' },
  prefix: { type: 'string' },
  'pk-field': { type: 'string' },
  'sk-field': { type: 'string' },
  'no-sk': { type: 'boolean' },
  separator: { type: 'string' },
  'ttl-field': { type: 'string' },
  endpoint: { type: 'string' },
  region: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type OptionName = keyof typeof OPTIONS;

const COMMANDS = ['check', 'create-table'] as const;

const ALLOWED: Record<(typeof COMMANDS)[number], ReadonlySet<OptionName>> = {
  check: new Set(Object.keys(OPTIONS) as OptionName[]),
  'create-table': new Set<OptionName>([
    'table',
    'pk-field',
    'sk-field',
    'no-sk',
    'ttl-field',
    'endpoint',
    'region',
    'help',
  ]),
};

/** Where the client connects; both come from the AWS environment when absent. */
export interface Connection {
  endpoint?: string;
  region?: string;
}

export type CliCommand =
  | { readonly kind: 'help' }
  | { readonly kind: 'usage-error'; readonly message: string }
  | {
      readonly kind: 'check';
      readonly connection: Connection;
      readonly options: Omit<CheckTableOptions, 'client'>;
    }
  | {
      readonly kind: 'create-table';
      readonly connection: Connection;
      readonly options: CreateIdempotencyTableOptions;
    };

const usageError = (message: string): CliCommand => ({ kind: 'usage-error', message });

/** Turns argv into a command, or a usage error naming what is wrong; touches nothing. */
export function parseCliArgs(argv: readonly string[]): CliCommand {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    return usageError(error instanceof Error ? error.message : String(error));
  }
  const { values, positionals } = parsed;
  if (values.help) return { kind: 'help' };

  const [command, ...extra] = positionals;
  if (command === undefined) return usageError('a command is required: check or create-table');
  if (!(COMMANDS as readonly string[]).includes(command)) {
    return usageError(`unknown command "${command}": use check or create-table`);
  }
  if (extra.length > 0) return usageError(`unexpected argument "${extra[0]}"`);
  const name = command as (typeof COMMANDS)[number];

  for (const option of Object.keys(values) as OptionName[]) {
    if (!ALLOWED[name].has(option)) return usageError(`--${option} is not an option of ${name}`);
  }
  for (const [option, value] of Object.entries(values)) {
    if (value === '') return usageError(`--${option} must not be empty`);
  }
  if (values.table === undefined) return usageError(`${name} needs --table`);
  if (values['no-sk'] && values['sk-field'] !== undefined) {
    return usageError('--sk-field and --no-sk exclude each other');
  }
  if (values.endpoint !== undefined && !URL.canParse(values.endpoint)) {
    return usageError(
      `--endpoint must be a URL such as http://localhost:8000 (got "${values.endpoint}")`,
    );
  }

  const connection: Connection = {
    ...(values.endpoint === undefined ? {} : { endpoint: values.endpoint }),
    ...(values.region === undefined ? {} : { region: values.region }),
  };
  const fields = {
    ...(values['pk-field'] === undefined ? {} : { pkField: values['pk-field'] }),
    ...(values['no-sk'] ? { skField: null } : {}),
    ...(values['sk-field'] === undefined ? {} : { skField: values['sk-field'] }),
    ...(values['ttl-field'] === undefined ? {} : { ttlField: values['ttl-field'] }),
  };

  if (name === 'create-table') {
    return { kind: 'create-table', connection, options: { table: values.table, ...fields } };
  }
  if (values.prefix === undefined) return usageError('check needs --prefix');
  return {
    kind: 'check',
    connection,
    options: {
      table: values.table,
      prefix: values.prefix,
      ...fields,
      ...(values.separator === undefined ? {} : { separator: values.separator }),
    },
  };
}
