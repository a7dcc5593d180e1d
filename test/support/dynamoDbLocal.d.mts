export const JAVA_MISSING: string;
/** The Java major version; throws, naming what to install, without Java 17+ on PATH. */
export function requireJava(): number;
export function freePort(): Promise<number>;
export interface DynamoDbLocalProcess {
  readonly endpoint: string;
  readonly port: number;
  readonly pid: number;
  /** Sends `signal` (SIGTERM by default; SIGKILL for a crash); resolves once it is gone. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}
export function startDynamoDbLocal(options?: {
  port?: number;
  /** Directory for the data on disk (`-dbPath`); in memory without it. */
  path?: string;
  /** One database whatever the credentials; off by default (one per access key and region). */
  sharedDb?: boolean;
  startTimeoutMs?: number;
}): Promise<DynamoDbLocalProcess>;
