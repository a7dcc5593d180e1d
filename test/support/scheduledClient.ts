import { AsyncLocalStorage } from 'node:async_hooks';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Scheduler, SchedulerAct } from 'fast-check';
import { transientError } from './faults.js';

/**
 * Lets fast-check order the DynamoDB traffic of several adapter instances, each on its own
 * client, against the real backend of the run.
 *
 * Every piece of work runs as an *actor* (`spawn`): a caller of the core's sequence, or a series
 * of direct method calls. An SDK middleware on each instance's client makes every attempt of
 * every command wait for a scheduler task before it is sent (`i<instance> <Command> <key> send`)
 * and for another before its answer is delivered (`... answer`); handlers wait at their start and
 * end (`step`). fast-check releases one task at a time, and only once every actor is parked on a
 * task or finished ("quiet"): so one request is in flight at a time, the server sees requests in
 * the order fast-check chose, and the set of tasks it picks from never depends on how fast the
 * machine is. Tasks parked together are handed to fast-check in actor order. A run is therefore
 * replayed exactly from fast-check's seed and path.
 *
 * (Labels end with the actor's name, so that a report reads as a story.)
 *
 * A step may stand for a stall (`step(label, advanceMs)`): when fast-check releases it, the
 * logical clock moves on by `advanceMs` besides its tick, as if the actor had been stuck that
 * long (a handler that outlives its lease). Everyone's leases and deadlines see that time pass.
 *
 * Time is logical too (`useLogicalClock`): `Date.now()` starts at the real time and advances by
 * `tickMs` per released task, so leases, lock-wait deadlines and the adapter's short-lived
 * verdicts depend on the interleaving only, not on the machine's speed. (The SDK signs with it
 * too; it stays within seconds of the real time.)
 *
 * Faults are decided per send from `faults`: a rule hits the n-th send (counted from 0, in the
 * order sends are released, across instances) of its target, a request kind such as
 * `PutItem(record)`, `PutItem(lock)`, `GetItem`, `DeleteItem`, or `*` for any. `throttle` fails
 * that attempt before it is sent with a throttling error (the SDK retries it), `throttle-out`
 * fails that attempt and every later attempt of the same command (the SDK gives up: the adapter
 * reports STORAGE_ERROR), `lose-answer` lets the attempt reach the server and commit, then
 * replaces its answer with a transient error (the SDK retries: an ambiguous write).
 */
export type FaultKind = 'lose-answer' | 'throttle' | 'throttle-out';

export interface FaultRule {
  /** `*`, or a request kind: `GetItem`, `PutItem(lock)`, `PutItem(record)`, `DeleteItem`. */
  readonly target: string;
  /** Which send of that target, from 0. */
  readonly nth: number;
  readonly kind: FaultKind;
}

export interface InjectedFault {
  readonly kind: FaultKind;
  /** Which send of the run (released order, from 0) it hit. */
  readonly send: number;
  readonly instance: number;
  readonly actor: string;
  readonly command: string;
  readonly key: string;
}

/** One attempt fast-check released (a throttled one never reaches the server). */
export interface SentRequest {
  readonly send: number;
  readonly instance: number;
  readonly actor: string;
  readonly command: string;
  readonly key: string;
  /** The owner token a lock put writes. */
  readonly owner: string | undefined;
  /** `ok`, or the name of the error the server answered with; unset if it never got there. */
  answer?: string;
}

export interface InterleaverOptions {
  /** Which sends fail, and how. */
  readonly faults?: readonly FaultRule[];
  /** Logical milliseconds per released task. */
  readonly tickMs?: number;
  /** The cache key of a request: by default the part of `pk` after `<prefix>#`. */
  readonly keyOf?: (input: Record<string, unknown>) => string;
}

interface Actor {
  /** The run the actor belongs to. */
  readonly lab: Interleaver;
  readonly name: string;
  readonly id: number;
  done: boolean;
  /** Parked on a task: a second request from this context (a renewal timer) is not scheduled. */
  parked: boolean;
  /** Tasks this actor has waited for so far. */
  steps: number;
}

interface Parked {
  readonly actor: Actor;
  readonly label: string;
  readonly release: () => void;
  /** Logical ms the clock moves on by, besides its tick, when this task is released. */
  readonly advanceMs: number;
}

type SdkError = Error & { $metadata?: Record<string, unknown> };

/** What DynamoDB answers a throttled request with; the SDK retries it as throttling. */
export function throttleError(): SdkError {
  return Object.assign(
    new Error('The level of configured provisioned throughput for the table was exceeded'),
    {
      name: 'ProvisionedThroughputExceededException',
      $fault: 'client' as const,
      $metadata: { httpStatusCode: 400 },
    },
  );
}

/** `pk` of a low-level (marshalled) request, without the adapter's `<prefix>#`. */
export function defaultKeyOf(input: Record<string, unknown>): string {
  const keyAttributes = (input.Key ?? input.Item) as Record<string, { S?: string }> | undefined;
  const pk = keyAttributes?.pk?.S ?? '?';
  const separator = pk.indexOf('#');
  return separator === -1 ? pk : pk.slice(separator + 1);
}

/** Which entity a put writes, for labels: `(lock)` or `(record)`. */
function entityOf(input: Record<string, unknown>): string {
  const marker = (input.Item as { __edb_e__?: { S?: string } } | undefined)?.__edb_e__?.S;
  if (marker === undefined) return '';
  return marker.endsWith('Lock') ? '(lock)' : '(record)';
}

/**
 * One store for every run of the process: Node copies each enabled AsyncLocalStorage into every
 * async resource created, so a storage per run would slow every later run down.
 */
const contexts = new AsyncLocalStorage<Actor>();

export class Interleaver {
  private readonly parked: Parked[] = [];
  private quietWaiters: (() => void)[] = [];
  private running = 0;
  private actorCount = 0;
  private sends = 0;
  private closed = false;
  private clock: number;
  private readonly tickMs: number;
  private readonly faultRules: readonly FaultRule[];
  /** Sends so far per target. */
  private readonly sendsOf = new Map<string, number>();
  private readonly keyOf: (input: Record<string, unknown>) => string;
  /** Faults injected so far, in the order they hit. */
  readonly faults: InjectedFault[] = [];
  /** Every attempt released, in order. */
  readonly sent: SentRequest[] = [];
  /** Requests sent by this run's instances while the run is on, outside any actor's turn. */
  unscheduled = 0;
  /** Tasks released so far. */
  released = 0;

  constructor(
    private readonly scheduler: Scheduler,
    options: InterleaverOptions = {},
  ) {
    this.clock = Date.now();
    this.tickMs = options.tickMs ?? 1;
    this.faultRules = options.faults ?? [];
    this.keyOf = options.keyOf ?? defaultKeyOf;
  }

  /** The logical time, epoch ms. */
  now(): number {
    return this.clock;
  }

  /** Makes `Date.now()` the logical clock until the returned function is called. */
  useLogicalClock(): () => void {
    const realNow = Date.now;
    Date.now = () => this.clock;
    return () => {
      Date.now = realNow;
    };
  }

  /** Runs `work` as an actor. Start every actor of a run in one synchronous stretch. */
  spawn<T>(name: string, work: () => Promise<T>): Promise<T> {
    const actor: Actor = {
      lab: this,
      name,
      id: this.actorCount++,
      done: false,
      parked: false,
      steps: 0,
    };
    this.running += 1;
    return contexts.run(actor, async () => {
      try {
        return await work();
      } finally {
        actor.done = true;
        this.running -= 1;
        this.onActivity();
      }
    });
  }

  /** The name of the actor whose turn it is (undefined outside actors). */
  currentActor(): string | undefined {
    return this.actor()?.name;
  }

  /** How many tasks the current actor has waited for (to tell whether a call sent anything). */
  stepsOfCurrentActor(): number {
    return this.actor()?.steps ?? 0;
  }

  /** The actor whose turn it is, if it belongs to this run. */
  private actor(): Actor | undefined {
    const actor = contexts.getStore();
    return actor?.lab === this ? actor : undefined;
  }

  /**
   * A point where fast-check decides who goes next (a handler's start or end, say). With
   * `advanceMs`, a stall: its release moves the logical clock on by that much more.
   */
  step(label: string, advanceMs = 0): Promise<void> {
    const actor = this.actor();
    if (actor === undefined || actor.done || actor.parked || this.closed) return Promise.resolve();
    return this.park(actor, `${label} ${actor.name}`, advanceMs);
  }

  /**
   * Releases tasks until `work` (every actor of the run) has settled; a task is released only
   * when the run is quiet.
   */
  async drive(work: Promise<unknown>): Promise<void> {
    const whenQuiet: SchedulerAct = async (release) => {
      await this.whenQuiet();
      await release();
    };
    await this.scheduler.waitFor(work, whenQuiet);
  }

  /** Ends the run: requests made from now on (checks, clean-up) pass straight through. */
  close(): void {
    this.closed = true;
  }

  /** Schedules the sends and answers of `client`, which belongs to instance `instance`. */
  attach(client: DynamoDBClient, instance: number): void {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const actor = this.actor();
        if (this.closed) return next(args);
        if (actor === undefined || actor.done || actor.parked) {
          this.unscheduled += 1;
          return next(args);
        }
        const input = args.input as Record<string, unknown>;
        const command = String(context.commandName).replace(/Command$/, '');
        const key = this.keyOf(input);
        const target = `${command}${entityOf(input)}`;
        const label = `i${instance} ${target} ${key}`;
        await this.park(actor, `${label} send ${actor.name}`);
        const send = this.sends++;
        // A record carries its holder's token too; only a lock put is a claim, renewal or rewrite.
        const owner =
          entityOf(input) === '(lock)'
            ? (input.Item as { owner?: { S?: string } } | undefined)?.owner?.S
            : undefined;
        const request: SentRequest = { send, instance, actor: actor.name, command, key, owner };
        this.sent.push(request);
        const state = context as { interleaverThrottledOut?: boolean };
        const planned = state.interleaverThrottledOut ? 'throttle-out' : this.faultFor(target);
        const fault = (kind: FaultKind) =>
          this.faults.push({ kind, send, instance, actor: actor.name, command, key });
        if (planned === 'throttle' || planned === 'throttle-out') {
          if (planned === 'throttle-out') state.interleaverThrottledOut = true;
          fault(planned);
          throw throttleError();
        }
        let outcome: { ok: true; value: unknown } | { ok: false; error: unknown };
        try {
          outcome = { ok: true, value: await next(args) };
          request.answer = 'ok';
        } catch (error) {
          outcome = { ok: false, error };
          request.answer = error instanceof Error ? error.name : String(error);
        }
        await this.park(actor, `${label} answer ${actor.name}`);
        if (planned === 'lose-answer') {
          fault(planned);
          throw transientError();
        }
        if (!outcome.ok) throw outcome.error;
        return outcome.value as Awaited<ReturnType<typeof next>>;
      },
      { step: 'deserialize', name: `interleaver${instance}`, priority: 'high' },
    );
  }

  /** The fault the rules give this send, counting it as a send of `*` and of its target. */
  private faultFor(target: string): FaultKind | undefined {
    let found: FaultKind | undefined;
    for (const name of ['*', target]) {
      const nth = this.sendsOf.get(name) ?? 0;
      this.sendsOf.set(name, nth + 1);
      const rule = this.faultRules.find((r) => r.target === name && r.nth === nth);
      found ??= rule?.kind;
    }
    return found;
  }

  private park(actor: Actor, label: string, advanceMs = 0): Promise<void> {
    return new Promise<void>((release) => {
      actor.parked = true;
      actor.steps += 1;
      this.parked.push({ actor, label, release, advanceMs });
      this.running -= 1;
      this.onActivity();
    });
  }

  private whenQuiet(): Promise<void> {
    if (this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.quietWaiters.push(resolve));
  }

  /** Once nobody runs, what was parked goes to fast-check, in actor order. */
  private onActivity(): void {
    if (this.running !== 0) return;
    const parked = this.parked.splice(0).sort((a, b) => a.actor.id - b.actor.id);
    for (const { actor, label, release, advanceMs } of parked) {
      const onRelease: SchedulerAct = (trigger) => {
        // Synchronously, as fast-check picks it: the run is busy again from this moment.
        this.running += 1;
        this.released += 1;
        this.clock += this.tickMs + advanceMs;
        actor.parked = false;
        return trigger();
      };
      void this.scheduler.schedule(Promise.resolve(), label, undefined, onRelease).then(release);
    }
    const waiters = this.quietWaiters;
    this.quietWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
