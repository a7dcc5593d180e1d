import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { withDeadline } from './async.js';

/** One JSON line a holder process printed: what happened and when (epoch ms). */
export interface ProcessLine {
  event: string;
  at: number;
  [field: string]: unknown;
}

/** A script run in a Node process of its own that reports each step as a JSON line on stdout. */
export interface LineProcess {
  readonly child: ChildProcess;
  readonly lines: ProcessLine[];
  /**
   * Resolves with the first line (past or future) that `matches`; rejects if the process ends
   * without printing one, or after `timeoutMs`.
   */
  next(matches: (line: ProcessLine) => boolean, timeoutMs?: number): Promise<ProcessLine>;
  /** Writes one line to its stdin (for scripts started with `stdin: true`). */
  send(text: string): void;
  /** Resolves with `[code, signal]` once it has exited and its output is read. */
  readonly exited: Promise<[number | null, NodeJS.Signals | null]>;
}

const started: ChildProcess[] = [];

/** For `afterEach`: kills whatever a test left running (a failed test, a held process). */
export function killStartedProcesses(): void {
  for (const child of started.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

/** The first line of `lines` with that event name. */
export const event = (name: string) => (line: ProcessLine) => line.event === name;

/** Runs `script` with `argument` as JSON in argv[2]; stderr goes to the test's stderr. */
export function startLineProcess(
  script: string,
  argument: object,
  { stdin = false }: { stdin?: boolean } = {},
): LineProcess {
  const child = spawn(process.execPath, [script, JSON.stringify(argument)], {
    stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'inherit'],
  });
  started.push(child);
  const lines: ProcessLine[] = [];
  let waiting: Array<{
    matches: (line: ProcessLine) => boolean;
    resolve: (line: ProcessLine) => void;
    reject: (error: Error) => void;
  }> = [];
  const { stdout } = child;
  if (stdout === null) throw new Error('the process has no stdout pipe');
  createInterface({ input: stdout }).on('line', (text) => {
    const line = JSON.parse(text) as ProcessLine;
    lines.push(line);
    for (const waiter of waiting.filter(({ matches }) => matches(line))) {
      waiting.splice(waiting.indexOf(waiter), 1);
      waiter.resolve(line);
    }
  });
  // 'close' comes after 'exit' and after stdout ended: every line has been read by then.
  const exited = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
  void exited.then(([code, signal]) => {
    const events = lines.map((line) => line.event).join(', ');
    for (const waiter of waiting) {
      waiter.reject(
        new Error(`the process ended (code ${code}, signal ${signal}) after lines: ${events}`),
      );
    }
    waiting = [];
  });
  return {
    child,
    lines,
    exited,
    next(matches, timeoutMs = 10_000) {
      const seen = lines.find(matches);
      if (seen !== undefined) return Promise.resolve(seen);
      if (child.exitCode !== null || child.signalCode !== null) {
        // Its lines may still be on the way: wait for 'close' to decide.
        return exited.then(() => {
          const late = lines.find(matches);
          if (late !== undefined) return late;
          throw new Error(`the process ended without the line (lines: ${lines.length})`);
        });
      }
      return withDeadline(
        timeoutMs,
        'process line',
        new Promise<ProcessLine>((resolve, reject) => waiting.push({ matches, resolve, reject })),
      );
    },
    send(text) {
      if (child.stdin === null) throw new Error('the process was started without a stdin pipe');
      child.stdin.write(`${text}\n`);
    },
  };
}
