import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';

/**
 * Installs the packed tarball (what `npm publish` would ship) into two throwaway consumers,
 * one with the core installed (a test double with a distinct class per module format) and one
 * without, then loads it from ESM and CommonJS and type-checks it under NodeNext with each
 * TypeScript in `compilers`.
 */
const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const work = path.join(root, 'test/.tmp/packed');
const fixtures = path.join(root, 'test/fixtures');
const PACKAGE = '@reaatech/idempotency-middleware-adapter-electrodb';

interface Compiler {
  role: string;
  version: string;
  /** The package's `tsc` launcher (for TypeScript 7, a script that runs the native binary). */
  tsc: string;
}

/** A TypeScript installed under `packageName` (the project's own, or an aliased devDependency). */
function compiler(packageName: string, role: string): Compiler {
  const dir = path.join(root, 'node_modules', packageName);
  const manifest = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as {
    version: string;
    bin: { tsc: string };
  };
  return { role, version: manifest.version, tsc: path.join(dir, manifest.bin.tsc) };
}

/**
 * Every one of these must accept the declarations. 5.0 is the oldest supported: 4.8 passed too
 * when tried, but only with an `@types/node` that no longer promises to support it (4.7 already
 * rejects the consumer's `@types/node`, TS2502 in stream/web.d.ts, not this package).
 */
const compilers: Compiler[] = [
  compiler('typescript-5.0', 'oldest supported'),
  compiler('typescript', "the project's own"),
  compiler('typescript-6', 'newest 6.x'),
  compiler('typescript-7', 'native 7.x'),
];

async function installConsumer(name: string, tarball: string, withCore: boolean): Promise<string> {
  const dir = path.join(work, name);
  const target = path.join(dir, 'node_modules', PACKAGE);
  await mkdir(target, { recursive: true });
  await run('tar', ['-xzf', tarball, '-C', target, '--strip-components=1']);
  if (withCore) {
    await cp(
      path.join(fixtures, 'fake-core'),
      path.join(dir, 'node_modules/@reaatech/idempotency-middleware'),
      { recursive: true },
    );
  }
  await cp(path.join(fixtures, 'consumer'), dir, { recursive: true });
  return dir;
}

interface ErrorShape {
  name: string;
  code: string;
  message: string;
  recoverable: boolean;
  status: number;
  isCoreClass: boolean | null;
  isLocalClass: boolean;
}
interface ProbeResult {
  coreFormat: 'esm' | 'cjs' | null;
  usesCoreErrorClass: boolean;
  timeout: ErrorShape;
  config: ErrorShape;
}

async function probe(dir: string, script: 'probe.mjs' | 'probe.cjs'): Promise<ProbeResult> {
  const { stdout } = await run(process.execPath, [script], {
    cwd: dir,
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  });
  return JSON.parse(stdout) as ProbeResult;
}

/** Newest modification time under `dir`, so a stale build is rebuilt rather than tested. */
async function newestMtime(dir: string): Promise<number> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  const times = await Promise.all(
    entries
      .filter((entry) => entry.isFile())
      .map(async (entry) => (await stat(path.join(entry.parentPath, entry.name))).mtimeMs),
  );
  return Math.max(0, ...times);
}

async function ensureFreshBuild(): Promise<void> {
  const built = await stat(path.join(root, 'dist/index.js')).then(
    (s) => s.mtimeMs,
    () => 0,
  );
  const sources = Math.max(
    await newestMtime(path.join(root, 'src')),
    (await stat(path.join(root, 'tsdown.config.ts'))).mtimeMs,
  );
  if (built < sources) {
    await run('npm', ['run', 'build', '--silent'], { cwd: root });
  }
}

let withCore: string;
let withoutCore: string;

beforeAll(async () => {
  await ensureFreshBuild();
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work], {
    cwd: root,
  });
  const [{ filename }] = JSON.parse(stdout) as [{ filename: string }];
  const tarball = path.join(work, filename);
  withCore = await installConsumer('with-core', tarball, true);
  withoutCore = await installConsumer('without-core', tarball, false);
}, 120_000);

describe('packed tarball', () => {
  it.each([
    ['probe.mjs', 'esm'],
    ['probe.cjs', 'cjs'],
  ] as const)(
    '%s: errors are the core IdempotencyError of the same module format',
    async (script, format) => {
      // Act
      const result = await probe(withCore, script);

      // Assess
      expect(result.coreFormat).toBe(format);
      expect(result.usesCoreErrorClass).toBe(true);
      expect(result.timeout).toEqual({
        name: 'IdempotencyError',
        code: 'LOCK_TIMEOUT',
        message: 'Lock wait timeout exceeded',
        recoverable: true,
        status: 409,
        isCoreClass: true,
        isLocalClass: false,
      });
      // The constructor throws synchronously, before an ESM import of the core can settle,
      // so configuration errors are always this package's class.
      expect(result.config).toMatchObject({
        code: 'INVALID_CONFIG',
        isCoreClass: false,
        isLocalClass: true,
        status: 500,
      });
    },
  );

  it.each(['probe.mjs', 'probe.cjs'] as const)(
    '%s without the core: errors are the local class with the same shape',
    async (script) => {
      // Act
      const result = await probe(withoutCore, script);

      // Assess
      expect(result.coreFormat).toBeNull();
      expect(result.usesCoreErrorClass).toBe(false);
      expect(result.timeout).toEqual({
        name: 'IdempotencyError',
        code: 'LOCK_TIMEOUT',
        message: 'Lock wait timeout exceeded',
        recoverable: true,
        status: 409,
        isCoreClass: null,
        isLocalClass: true,
      });
      expect(result.config).toMatchObject({ code: 'INVALID_CONFIG', isLocalClass: true });
    },
  );

  it.each(['esm', 'cjs'] as const)(
    'bundles with esbuild to %s, and the bundled core class is the one thrown',
    async (format) => {
      // Prepare
      const outfile = path.join(withCore, `bundle.${format === 'esm' ? 'mjs' : 'cjs'}`);

      // Act
      await build({
        entryPoints: [path.join(withCore, 'bundle-entry.mjs')],
        bundle: true,
        platform: 'node',
        target: 'node20',
        format,
        outfile,
        external: ['electrodb', '@aws-sdk/*'],
        logLevel: 'silent',
      }).catch((error: Error) => {
        throw new Error(`esbuild failed for ${format}: ${error.message}`);
      });
      const { stdout } = await run(process.execPath, [outfile], { cwd: withCore });

      // Assess
      expect(JSON.parse(stdout)).toEqual({
        usesCoreErrorClass: true,
        code: 'KEY_REQUIRED',
        isCoreClass: true,
      });
    },
  );

  it('ships the electrodb-idempotency command named in package.json bin', async () => {
    // Prepare
    const installed = path.join(withCore, 'node_modules', PACKAGE);
    const manifest = JSON.parse(await readFile(path.join(installed, 'package.json'), 'utf8')) as {
      bin: Record<string, string>;
    };
    const bin = path.join(installed, manifest.bin['electrodb-idempotency'] ?? 'missing');

    // Act
    const { stdout } = await run(process.execPath, [bin, '--help'], { cwd: withCore });

    // Assess
    expect(stdout).toContain('electrodb-idempotency check --table');
    expect((await stat(bin)).mode & 0o111).not.toBe(0);
  });

  // Concurrent, so that the compiler processes overlap instead of queueing: each takes several
  // seconds (the consumer checks every declaration it loads, the AWS SDK's included).
  it.concurrent.each(compilers.map(({ version, role, tsc }) => [version, role, tsc] as const))(
    'type-checks for ESM and CommonJS consumers under NodeNext, against the core types, with TypeScript %s (%s)',
    async (_version, _role, tsc) => {
      // Act
      const result = await run(
        process.execPath,
        [tsc, '-p', 'tsconfig.json', '--listFiles', '--pretty', 'false'],
        { cwd: withCore, maxBuffer: 16 * 1024 * 1024 },
      ).then(
        ({ stdout, stderr }) => ({ exitCode: 0, stdout, stderr }),
        (error: { code: number | string; stdout?: string; stderr?: string }) => ({
          exitCode: error.code,
          stdout: error.stdout ?? '',
          stderr: error.stderr ?? '',
        }),
      );
      const lines = result.stdout.split('\n').filter((line) => line !== '');
      // --listFiles prints absolute paths; anything else is a diagnostic.
      const diagnostics = lines.filter((line) => !path.isAbsolute(line));
      const installed = path.join(withCore, 'node_modules', PACKAGE, 'dist');

      // Assess (stderr is only there to be shown, should the compiler fail to start)
      expect({ exitCode: result.exitCode, diagnostics, stderr: result.stderr }).toEqual({
        exitCode: 0,
        diagnostics: [],
        stderr: expect.any(String),
      });
      // Both declaration files were in the program, so both were checked.
      expect(lines).toEqual(
        expect.arrayContaining([
          path.join(installed, 'index.d.ts'),
          path.join(installed, 'index.d.cts'),
        ]),
      );
    },
    120_000,
  );
});
