import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const SERVER_SCRIPT = fileURLToPath(new URL('./dynaliteServer.mjs', import.meta.url));

export interface DynaliteProcess {
  readonly endpoint: string;
  readonly port: number;
  readonly pid: number;
  /** Sends `signal` (SIGKILL by default: a crash) and resolves once the process is gone. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export interface DynaliteProcessOptions {
  /** 0 lets the OS pick. */
  readonly port?: number;
  /** Directory for the data on disk; in memory without it. */
  readonly path?: string;
  /** How long to wait for it to listen. */
  readonly startTimeoutMs?: number;
}

/** A TCP port nothing listens on right now, for a server that must come back on the same one. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
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

/** dynalite in a child process on 127.0.0.1. */
export async function startDynaliteProcess(
  options: DynaliteProcessOptions = {},
): Promise<DynaliteProcess> {
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
