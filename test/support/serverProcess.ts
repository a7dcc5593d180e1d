import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { backend } from './backend.js';
import { freePort, startDynamoDbLocal } from './dynamoDbLocal.mjs';

export { freePort };

const SERVER_SCRIPT = fileURLToPath(new URL('./dynaliteServer.mjs', import.meta.url));

export interface ServerProcess {
  readonly endpoint: string;
  readonly port: number;
  readonly pid: number;
  /** Sends `signal` (SIGKILL by default: a crash) and resolves once the process is gone. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export interface ServerProcessOptions {
  /** 0 lets the OS pick. */
  readonly port?: number;
  /** Directory for the data on disk; in memory without it. */
  readonly path?: string;
  /** How long to wait for it to listen. */
  readonly startTimeoutMs?: number;
}

function waitForListening(child: ChildProcess, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(
      () => fail(new Error(`dynalite did not listen within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening (\d+)/.exec(output);
      if (match) {
        cleanup();
        resolve(Number(match[1]));
      }
    };
    const onExit = (code: number | null, signal: string | null) =>
      fail(new Error(`dynalite exited before listening (code ${code}, signal ${signal})`));
    function cleanup() {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      child.off('error', fail);
      // Nothing more is read; keep the pipe drained so the child never blocks on it.
      child.stdout?.resume();
    }
    function fail(error: Error) {
      cleanup();
      child.kill('SIGKILL');
      reject(error);
    }
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
    child.once('error', fail);
  });
}

/**
 * The test backend's server in a child process on 127.0.0.1, owned by the test so that it can
 * crash it (SIGKILL) and start it again on the same data: dynalite (LevelDB on disk with `path`)
 * or DynamoDB Local (SQLite on disk with `path`, as `-dbPath`).
 */
export async function startServerProcess(
  options: ServerProcessOptions = {},
): Promise<ServerProcess> {
  if (backend === 'endpoint') {
    throw new Error('TEST_BACKEND=endpoint: this test must start and crash a server of its own');
  }
  if (backend === 'dynamodb-local') {
    const { port, path, startTimeoutMs } = options;
    const server = await startDynamoDbLocal({
      ...(port === undefined || port === 0 ? {} : { port }),
      ...(path === undefined ? {} : { path }),
      ...(startTimeoutMs === undefined ? {} : { startTimeoutMs }),
    });
    return { ...server, kill: (signal = 'SIGKILL') => server.kill(signal) };
  }
  return startDynaliteProcess(options);
}

async function startDynaliteProcess(options: ServerProcessOptions): Promise<ServerProcess> {
  const { port = 0, path, startTimeoutMs = 10_000 } = options;
  const child = spawn(
    process.execPath,
    [SERVER_SCRIPT, JSON.stringify({ port, ...(path === undefined ? {} : { path }) })],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  // Settles when the process is gone, also when it could not be started.
  const exited = once(child, 'exit').catch(() => undefined);
  const listeningPort = await waitForListening(child, startTimeoutMs);
  return {
    endpoint: `http://127.0.0.1:${listeningPort}`,
    port: listeningPort,
    pid: child.pid ?? -1,
    async kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}
