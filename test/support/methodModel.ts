import type { Scheduler } from 'fast-check';
import { fenceErrorReason } from '../../src/index.js';
import type { IdempotencyRecord, StorageAdapter } from '../../src/types.js';
import {
  type AdapterCall,
  type Bench,
  codeOf,
  createFleet,
  FLEET_MODES,
  type FleetInstance,
  type FleetMode,
  LONG_LEASE_MS,
  recordingAdapter,
} from './interleavingRuns.js';
import { Interleaver, type SentRequest } from './scheduledClient.js';

/**
 * Property (b): the eight methods called directly, by actors on several instances, over a few
 * keys, in interleavings fast-check chooses; then a model of what the README promises checks
 * the history of calls.
 */

export type KeyedMethod = 'get' | 'set' | 'delete' | 'acquireLock' | 'releaseLock' | 'waitForLock';
export type MethodCommand =
  | { readonly method: KeyedMethod; readonly key: number }
  | { readonly method: 'connect' | 'disconnect' };

export interface MethodActor {
  readonly instance: number;
  readonly commands: readonly MethodCommand[];
}

export interface MethodScenario {
  readonly modes: readonly FleetMode[];
  readonly keys: number;
  readonly actors: readonly MethodActor[];
}

/**
 * Fixed in src/ since. The tag of a violation an adapter bug caused (interleavingRegressions:
 * "claim-on-miss: acquireLock must not confirm a get claim that a set overwrote while the
 * instance holds the key"): a claim-on-miss acquireLock confirmed a pending get claim although
 * its instance held the key, and swapped the held lock's token for the stale claim's, so the
 * lock in the table could no longer be released (or renewed).
 */
export const STALE_CLAIM_CONFIRMED = '[fixed bug back: stale claim confirmed while held]';

/**
 * Fixed in src/ since. The tag of a violation an adapter bug caused (interleavingRegressions:
 * "claim-on-miss: releasing a claim a get took forgets the gets that lost to it"): a get that
 * lost to its own instance's claim left a verdict that `releaseLock` did not forget when it
 * gave that claim up, so the next acquireLock answered false for a free key.
 */
export const STALE_LOST_VERDICT = '[fixed bug back: lost verdict outlives the released claim]';

/**
 * Fixed in src/ since. The tag of a violation an adapter bug caused (interleavingRegressions:
 * "a set whose answer comes after the same instance took the key must not forget that newer
 * lock"): a completed `set` made its instance forget the key's lock, even one it took while
 * the put was in flight (the put landed first, the key was emptied, then claimed): that lock
 * could no longer be released (or renewed) and held the key until its lease ended.
 */
export const SET_FORGOT_NEWER_LOCK = '[fixed bug back: set forgot a newer lock]';

/**
 * Fixed in src/ since. The tag of a violation an adapter bug caused (interleavingRegressions:
 * "claim-on-miss: a set through an instance that lands after the same instance claimed the key
 * replaces that lock"): set() kept a lock its instance took while the put was in flight, even
 * where the put landed after the claim and replaced it; that lock's claim receipt (and,
 * claim-on-miss, its hold) answered the instance's next get with no record although the record
 * was stored.
 */
export const SET_KEPT_REPLACED_LOCK = '[fixed bug back: set kept a lock its record replaced]';

/**
 * The tag of a violation that an adapter bug causes (see interleavingRegressions.test.ts,
 * "claim-on-miss: of two claims of one instance, the one that landed last stands"): the
 * instance keeps one pending claim per key, and of two concurrent gets that both won a claim it
 * may keep the overwritten one (first: the later answer; since: the later-started get); the
 * claim in the table is then nobody's to release (or confirm) and holds the key until its
 * lease ends.
 */
export const CLAIM_DISPLACED = '[known bug: a late claim answer displaced the standing claim]';

/**
 * The tags of the adapter bugs still open, which the property counts instead of failing on.
 * (The other tags name bugs fixed since: they stay as labels, should one come back.)
 */
export const KNOWN_BUG_TAGS: readonly string[] = [];

/** README "Claim on miss": a get lost to a live lock answers the next acquireLock this long. */
const LOST_VERDICT_MS = 1_000;

/** `waitForLock`'s timeout, logical ms (1 per task): a wait on a held key times out quickly. */
export const WAIT_TIMEOUT_MS = 25;
const RECORD_TTL_MS = 3_600_000;

export interface MethodRun {
  readonly scenario: MethodScenario;
  readonly keys: readonly string[];
  readonly calls: readonly AdapterCall[];
  readonly sent: readonly SentRequest[];
  /** Lock items once quiet, before anything was released. */
  readonly locksWhenQuiet: readonly Record<string, unknown>[];
  /** Lock items after each instance released each key as often as the model says it holds it. */
  readonly locksAfterRelease: readonly Record<string, unknown>[];
  readonly releaseErrors: readonly string[];
  readonly released: number;
  readonly unscheduled: number;
}

export interface MethodRunOptions {
  readonly table: string;
  readonly runId: string;
  /** Wraps each instance's adapter (a fake bug, for proving that the checks can fail). */
  readonly wrap?: (adapter: StorageAdapter) => StorageAdapter;
}

/** What a record stands for in the model: its response, unique per `set`. */
type Value = string | null;
const valueOfRecord = (record: IdempotencyRecord | null | undefined): Value =>
  record === null || record === undefined
    ? null
    : String((record.response as { set?: unknown }).set);

export async function runMethodScenario(
  bench: Bench,
  s: Scheduler,
  scenario: MethodScenario,
  { table, runId, wrap = (adapter) => adapter }: MethodRunOptions,
): Promise<MethodRun> {
  const lab = new Interleaver(s);
  const fleet = createFleet(bench, table, lab, scenario.modes);
  const keys = Array.from({ length: scenario.keys }, (_, k) => `${runId}k${k}`);
  const calls: AdapterCall[] = [];
  const seq = { seq: 0 };
  const restoreClock = lab.useLogicalClock();
  try {
    const work = scenario.actors.map(({ instance: i, commands }, a) => {
      const name = `a${a}`;
      const instance = i % fleet.instances.length;
      const adapter = recordingAdapter(
        wrap((fleet.instances[instance] as FleetInstance).adapter),
        instance,
        lab,
        calls,
        seq,
      );
      return lab.spawn(name, async () => {
        for (const [index, command] of commands.entries()) {
          await runCommand(adapter, command, keys, `${name}.${index}`).catch(() => undefined);
        }
      });
    });
    const settled = Promise.allSettled(work);
    await lab.drive(settled);
    await settled;
  } finally {
    lab.close();
    restoreClock();
  }
  const isLock = (item: Record<string, unknown>) => String(item.__edb_e__).endsWith('Lock');
  const locksWhenQuiet = (await bench.itemsOf(table, keys)).filter(isLock);
  // Every holder releases (README "Claim on miss": releaseLock gives up a claim a get took,
  // as it gives up a lock): each instance releases each key once per acquisition it has not
  // released, plus once for a claim a get of its took that no acquireLock confirmed; and once
  // at least, which costs nothing where there is nothing to release.
  const releaseErrors: string[] = [];
  const outstanding = outstandingAcquisitions(calls);
  const claims = (instance: number) =>
    Boolean(FLEET_MODES[scenario.modes[instance] ?? 'default'].claimOnMiss);
  const confirmedGets = new Set(claimConfirmations(calls, lab.sent, claims).values());
  for (const { index, adapter } of fleet.instances) {
    for (const key of keys) {
      const unconfirmed = calls.some(
        (get) =>
          get.instance === index &&
          get.key === key &&
          wonClaim(get, lab.sent) &&
          !confirmedGets.has(get),
      );
      const times = Math.max(1, (outstanding.get(`${index}|${key}`) ?? 0) + (unconfirmed ? 1 : 0));
      for (let n = 0; n < times; n += 1) {
        await adapter.releaseLock(key).catch((error: unknown) => {
          releaseErrors.push(`i${index} releaseLock(${key}): ${codeOf(error)}`);
        });
      }
    }
  }
  const items = await bench.itemsOf(table, keys);
  await fleet.close();
  await bench.remove(table, items);
  return {
    scenario,
    keys,
    calls,
    sent: lab.sent,
    locksWhenQuiet,
    locksAfterRelease: items.filter(isLock),
    releaseErrors,
    released: lab.released,
    unscheduled: lab.unscheduled,
  };
}

function runCommand(
  adapter: StorageAdapter,
  command: MethodCommand,
  keys: readonly string[],
  id: string,
): Promise<unknown> {
  if (command.method === 'connect') return adapter.connect();
  if (command.method === 'disconnect') return adapter.disconnect();
  if (!('key' in command)) throw new Error('unreachable');
  const key = keys[command.key % keys.length] as string;
  switch (command.method) {
    case 'get':
      return adapter.get(key);
    case 'set':
      return adapter.set(key, { response: { set: id }, createdAt: Date.now(), ttl: RECORD_TTL_MS });
    case 'delete':
      return adapter.delete(key);
    case 'acquireLock':
      return adapter.acquireLock(key, LONG_LEASE_MS);
    case 'releaseLock':
      return adapter.releaseLock(key);
    case 'waitForLock':
      return adapter.waitForLock(key, WAIT_TIMEOUT_MS, 1);
  }
}

/**
 * claim-on-miss: the acquireLock calls that confirmed a claim a get took, each with that get.
 * The get is the latest one of the key on the instance that returned no record after writing
 * a lock; the acquireLock confirms it when it wrote no lock of its own (or rewrote the claim's
 * lease under the claim's token).
 */
/** A claim-on-miss get that wrote its lock (its claim won): it returned no record. */
function wonClaim(get: AdapterCall, sent: readonly SentRequest[]): boolean {
  return (
    get.method === 'get' &&
    ok(get) &&
    returned(get) === null &&
    sent.some(
      (request) =>
        request.actor === get.actor &&
        request.send >= get.sentBefore &&
        request.send < get.sentAfter &&
        request.owner !== undefined &&
        request.answer === 'ok',
    )
  );
}

function claimConfirmations(
  calls: readonly AdapterCall[],
  sent: readonly SentRequest[],
  claims: (instance: number) => boolean,
): Map<AdapterCall, AdapterCall> {
  const lockPutsOf = (call: AdapterCall) =>
    sent.filter(
      (request) =>
        request.actor === call.actor &&
        request.owner !== undefined &&
        request.send >= call.sentBefore &&
        request.send < call.sentAfter,
    );
  const confirms = new Map<AdapterCall, AdapterCall>();
  for (const acquire of calls) {
    if (acquire.method !== 'acquireLock' || returned(acquire) !== true) continue;
    if (!claims(acquire.instance)) continue;
    const claimGet = calls
      .filter(
        (get) =>
          get.method === 'get' &&
          get.instance === acquire.instance &&
          get.key === acquire.key &&
          get.end < acquire.end &&
          wonClaim(get, sent),
      )
      .sort((a, b) => b.end - a.end)[0];
    if (claimGet === undefined) continue;
    const claimTokens = new Set(lockPutsOf(claimGet).map((request) => request.owner));
    if (lockPutsOf(acquire).every((request) => claimTokens.has(request.owner))) {
      confirms.set(acquire, claimGet);
    }
  }
  return confirms;
}

/** Per `instance|key`, acquisitions that returned true and were not released since. */
function outstandingAcquisitions(calls: readonly AdapterCall[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const call of [...calls].sort((a, b) => a.end - b.end)) {
    const slot = `${call.instance}|${call.key}`;
    if (call.method === 'acquireLock' && call.outcome?.ok && call.outcome.value === true) {
      counts.set(slot, (counts.get(slot) ?? 0) + 1);
    } else if (call.method === 'releaseLock' && call.outcome?.ok) {
      counts.set(slot, Math.max(0, (counts.get(slot) ?? 0) - 1));
    }
  }
  return counts;
}

const ok = (call: AdapterCall) => call.outcome?.ok === true;
const returned = (call: AdapterCall): unknown =>
  call.outcome?.ok === true ? call.outcome.value : undefined;

/**
 * The register of record values a key may hold at some moment of [from, to] (call sequence
 * numbers): the value of every write that completed before `from` and was not followed by
 * another write that started after it ended and completed before `from`; the value of every
 * write in flight during the window; null when no write completed before `from`.
 */
function possibleValues(
  writes: readonly AdapterCall[],
  from: number,
  to: number,
  writtenValue: (write: AdapterCall) => Value,
): Set<Value> {
  const values = new Set<Value>();
  const completed = writes.filter((w) => w.end < from);
  if (completed.length === 0) values.add(null);
  for (const w of completed) {
    if (!completed.some((later) => later.start > w.end)) values.add(writtenValue(w));
  }
  for (const w of writes) {
    if (w.end >= from && w.start < to) values.add(writtenValue(w));
  }
  return values;
}

export interface MethodCheck {
  readonly problems: string[];
  /** How often a documented exception explained a `get` the register alone would not. */
  readonly exceptionsUsed: Record<
    | 'claimReceipt'
    | 'heldByOwnInstance'
    | 'waitReceipt'
    | 'localCache'
    | 'lostVerdict'
    | 'fencedSet',
    number
  >;
}

/**
 * What the README promises about direct calls, as asserted:
 *
 * - Every call resolves, except `waitForLock`, which may reject with LOCK_TIMEOUT, and then only
 *   after its timeout (logical time) and while some lock could hold the key.
 *   `connect`/`disconnect` send nothing.
 * - Mutual exclusion: when an acquisition begins, no other acquisition of the key is held. It
 *   begins when `acquireLock` returns true, or, for a claim-on-miss `acquireLock` that confirms a
 *   claim its instance's `get` took, when that `get` returned; it is held until its instance's
 *   `releaseLock` of the key starts, or a `set` of the key (by anyone: the record replaces the
 *   lock) starts or ends. One that a `set` in flight while it claimed may have replaced already
 *   holds nobody back.
 * - Leases are long (30 s of logical time): they never lapse within a run.
 * - `acquireLock` returns true only where the key may have been free of a live record, and false
 *   only where a record or a lock may have held it.
 * - Records are never lost nor replaced by older ones. The key is a register: sets write their
 *   record, deletes write "no record", locks read as "no record". A `get` returns a value the key
 *   may have held during the call: the last write that completed before the `get` began (any of
 *   them, where such writes overlapped), or any write in flight meanwhile. Documented exceptions:
 *   - claim receipt (README "Locking design", double check): the first `get` of a key on an
 *     instance after its own successful `acquireLock` answers null with no request, even if a
 *     non-holder has since written a record;
 *   - claim-on-miss: a `get` of a key its own instance holds answers null with no request;
 *   - the `get` after a finished `waitForLock` on the same instance may be answered by the
 *     wait's last read (a record the key held during the wait), unless a write through that
 *     instance came between; a get the claim receipt answers leaves that for the next one;
 *   - local cache: an instance may answer a record it read or wrote itself, until a write of
 *     the key through that same instance; writes through other instances go unseen.
 * - claim-on-miss, lost to a live lock: after a get that lost its claim, the instance's next
 *   acquireLock may answer false with no request for up to a second, even if the lock is gone;
 *   but not once that instance's own releaseLock gave up the claim it lost to (known bug).
 * - `waitForLock` resolves only if no acquisition was held throughout the wait.
 * - Once quiet, a lock item of the key is explained by the model: the instance that wrote it
 *   did not release the key after writing it. After every instance released every key as often
 *   as it holds it (once at least, which gives up a claim a `get` took), no lock item is left.
 */
/** The run's calls in order, with their outcomes and the requests each sent: for reports. */
export function describeHistory(run: MethodRun): string {
  return [...run.calls]
    .sort((a, b) => a.start - b.start)
    .map((call) => {
      const outcome =
        call.outcome === undefined
          ? 'pending'
          : call.outcome.ok
            ? JSON.stringify(call.outcome.value ?? null)
            : codeOf(call.outcome.error);
      const sends = run.sent
        .filter(
          (r) => r.actor === call.actor && r.send >= call.sentBefore && r.send < call.sentAfter,
        )
        .map(
          (r) =>
            `#${r.send} ${r.command}${r.owner ? `(${r.owner.slice(0, 8)})` : ''}:${r.answer ?? 'never sent'}`,
        );
      return `  [${call.start}..${call.end}] ${call.actor}@i${call.instance} ${call.method}(${call.key ?? ''}) -> ${outcome}${sends.length > 0 ? `  ${sends.join(', ')}` : ''}`;
    })
    .join('\n');
}

export function methodViolations(run: MethodRun): MethodCheck {
  const problems: string[] = [];
  const exceptionsUsed = {
    claimReceipt: 0,
    heldByOwnInstance: 0,
    waitReceipt: 0,
    localCache: 0,
    lostVerdict: 0,
    fencedSet: 0,
  };
  if (run.unscheduled !== 0) problems.push(`${run.unscheduled} requests escaped the scheduler`);
  const modes = run.scenario.modes.map((mode) => FLEET_MODES[mode]);
  const claims = (instance: number) => Boolean(modes[instance]?.claimOnMiss);
  const caches = (instance: number) => modes[instance]?.localCache !== undefined;
  const calls = run.calls;
  const describe = (call: AdapterCall) =>
    `${call.actor}@i${call.instance} ${call.method}(${call.key ?? ''})[${call.start}..${call.end}]`;
  // A set's value is its response, which the runner makes unique: `<actor>.<command index>`,
  // and each command is one call.
  const setValue = new Map<AdapterCall, Value>();
  const perActor = new Map<string, number>();
  for (const call of [...calls].sort((a, b) => a.start - b.start)) {
    const index = perActor.get(call.actor) ?? 0;
    perActor.set(call.actor, index + 1);
    if (call.method === 'set') setValue.set(call, `${call.actor}.${index}`);
  }
  const writtenValue = (write: AdapterCall): Value =>
    write.method === 'set' ? (setValue.get(write) ?? '?') : null;
  // A set the fence refused wrote nothing: it is no write of the register.
  const refusedByFence = (call: AdapterCall) =>
    call.method === 'set' &&
    call.outcome?.ok === false &&
    fenceErrorReason(call.outcome.error) === 'lease-lost';
  const writesOf = (key: string) =>
    calls.filter(
      (call) =>
        call.key === key &&
        (call.method === 'set' || call.method === 'delete') &&
        !refusedByFence(call),
    );
  /** Per set, whether its instance held the key when it began: such a set is fenced. */
  const heldAtStart = new Map<AdapterCall, boolean>();

  // Outcomes every call must have (a set the fence refused is judged after the walk below).
  for (const call of calls) {
    if (call.outcome === undefined) problems.push(`${describe(call)} never settled`);
    else if (!call.outcome.ok && !refusedByFence(call)) {
      const code = codeOf(call.outcome.error);
      if (call.method !== 'waitForLock' || code !== 'LOCK_TIMEOUT') {
        problems.push(`${describe(call)} failed with ${code}`);
      }
    }
    if ((call.method === 'connect' || call.method === 'disconnect') && call.steps !== 0) {
      problems.push(`${describe(call)} sent a request`);
    }
  }

  // Walk the starts and ends in order, keeping per instance and key what the model knows.
  type Slot = {
    receipt: boolean;
    held: number;
    /** Acquisitions a set kept although it may have replaced their lock (the known bug
     * SET_KEPT_REPLACED_LOCK). */
    keptHeld: number;
    waits: number;
    lastWait: AdapterCall | undefined;
    waitVoided: boolean;
    cached: Set<Value>;
  };
  const slots = new Map<string, Slot>();
  const slot = (instance: number, key: string): Slot => {
    const name = `${instance}|${key}`;
    let found = slots.get(name);
    if (found === undefined) {
      found = {
        receipt: false,
        held: 0,
        keptHeld: 0,
        waits: 0,
        lastWait: undefined,
        waitVoided: false,
        cached: new Set(),
      };
      slots.set(name, found);
    }
    return found;
  };
  /** Holds per key: the acquisitions that returned true and are not over. */
  const holds = new Map<string, AdapterCall[]>();
  const holdsOf = (key: string) => {
    let list = holds.get(key);
    if (list === undefined) {
      list = [];
      holds.set(key, list);
    }
    return list;
  };
  /** Gets whose null a kept, replaced lock explains (the known bug SET_KEPT_REPLACED_LOCK). */
  const knownBugNull = new Set<AdapterCall>();
  /** For each get, the values a documented exception allows, decided when it starts. */
  const excused = new Map<AdapterCall, Map<Value, keyof MethodCheck['exceptionsUsed']>>();
  /** Each acquisition's hold interval, for the wait check. */
  const holdStarts = new Map<AdapterCall, number>();
  const holdEnds = new Map<AdapterCall, number>();
  const confirms = claimConfirmations(calls, run.sent, claims);
  const confirmedBy = new Map([...confirms].map(([acquire, get]) => [get, acquire]));
  /** Keys where the known bug below happened: what it leaves behind is its doing. */
  const staleConfirms = new Set<string>();
  const beginHold = (acquire: AdapterCall, key: string, at: number) => {
    // A set in flight while the claim was made may have landed after it: the hold may be over
    // already (and the key taken by another since), so it is left out of the model.
    const from = confirms.get(acquire)?.start ?? acquire.start;
    const replaced = calls.some(
      (write) =>
        write.method === 'set' && write.key === key && write.end > from && write.start < at,
    );
    if (replaced) return;
    const others = holdsOf(key);
    if (others.length > 0) {
      problems.push(
        `two holders of ${key}: ${describe(acquire)} acquired while ${others.map(describe).join(', ')} held it`,
      );
    }
    others.push(acquire);
    holdStarts.set(acquire, at);
  };
  const events = calls
    .flatMap((call) => [
      { at: call.start, kind: 'start' as const, call },
      { at: call.end, kind: 'end' as const, call },
    ])
    .sort((a, b) => a.at - b.at);
  const endHold = (key: string, predicate: (hold: AdapterCall) => boolean, at: number) => {
    const list = holdsOf(key);
    for (const hold of list.filter(predicate)) {
      holdEnds.set(hold, at);
      list.splice(list.indexOf(hold), 1);
    }
  };
  for (const { kind, call, at } of events) {
    if (call.key === undefined) continue;
    const key = call.key;
    const own = slot(call.instance, key);
    if (kind === 'start') {
      switch (call.method) {
        case 'get': {
          const allowed = new Map<Value, keyof MethodCheck['exceptionsUsed']>();
          excused.set(call, allowed);
          // As the adapter does: a claim receipt answers first, and then nothing else is used
          // (a wait receipt stays for the next get).
          const receipt = own.receipt;
          if (receipt) allowed.set(null, 'claimReceipt');
          own.receipt = false;
          if (receipt) break;
          if (claims(call.instance) && own.keptHeld > 0) knownBugNull.add(call);
          if (claims(call.instance) && own.held > 0) allowed.set(null, 'heldByOwnInstance');
          if (own.waits > 0) {
            own.waits -= 1;
            const wait = own.lastWait;
            if (wait !== undefined && !own.waitVoided) {
              for (const value of possibleValues(
                writesOf(key),
                wait.start,
                wait.end,
                writtenValue,
              )) {
                if (value !== null && !allowed.has(value)) allowed.set(value, 'waitReceipt');
              }
            }
          }
          if (caches(call.instance)) {
            for (const value of own.cached)
              if (!allowed.has(value)) allowed.set(value, 'localCache');
          }
          break;
        }
        case 'set':
          heldAtStart.set(call, own.held + own.keptHeld > 0);
          endHold(key, () => true, at);
          own.waitVoided = true;
          own.cached.clear();
          break;
        case 'delete':
          own.waitVoided = true;
          own.cached.clear();
          break;
        case 'releaseLock':
          endHold(key, (hold) => hold.instance === call.instance, at);
          own.receipt = false;
          own.held = 0;
          own.keptHeld = 0;
          break;
        default:
          break;
      }
      continue;
    }
    // The call ended.
    switch (call.method) {
      case 'acquireLock': {
        if (returned(call) !== true) break;
        // A confirmed claim has held the key since its get: begun there, or already over.
        if (!confirms.has(call)) beginHold(call, key, at);
        else if (own.held > 0) {
          // The instance held the key when it confirmed a claim: one of the two is stale (a set
          // replaced it). Harmless unless that swaps a standing lock for a stale token, which
          // leaves a lock no release frees (checked once quiet, and labelled with this).
          staleConfirms.add(key);
        }
        own.receipt = true;
        own.held += 1;
        break;
      }
      case 'set':
        endHold(key, () => true, at);
        if (ok(call)) {
          // set() forgets the acquisition it completes; one this instance took while the put
          // was in flight it keeps, with its claim receipt doubted (since src/ changed), even
          // where the put replaced its lock.
          const takenMeanwhile = calls.some(
            (acquire) =>
              acquire.method === 'acquireLock' &&
              acquire.instance === call.instance &&
              acquire.key === key &&
              returned(acquire) === true &&
              acquire.end > call.start &&
              acquire.end < call.end,
          );
          if (takenMeanwhile) own.keptHeld += own.held;
          own.receipt = false;
          own.held = 0;
          const writesDuring = calls.some(
            (other) =>
              other !== call &&
              other.instance === call.instance &&
              (other.method === 'set' || other.method === 'delete') &&
              other.start > call.start &&
              other.start < call.end,
          );
          if (!writesDuring) own.cached.add(writtenValue(call));
        }
        break;
      case 'delete':
        own.cached.clear();
        break;
      case 'waitForLock':
        if (ok(call)) {
          own.waits += 1;
          own.lastWait = call;
          own.waitVoided = false;
        }
        break;
      case 'get': {
        // claim-on-miss: a get whose claim an acquireLock later confirmed took the key here.
        const confirming = confirmedBy.get(call);
        if (confirming !== undefined) beginHold(confirming, key, at);
        const value = valueOfRecord(returned(call) as IdempotencyRecord | null);
        const writesDuring = calls.some(
          (other) =>
            other.instance === call.instance &&
            (other.method === 'set' || other.method === 'delete') &&
            other.start > call.start &&
            other.start < call.end,
        );
        if (ok(call) && value !== null && !writesDuring) own.cached.add(value);
        break;
      }
      default:
        break;
    }
  }

  // A holder's set is fenced (README "Fencing"): refused, writing nothing, only when its
  // instance held the key as it began and another write reached the key since the instance's
  // acquisition (a record, a delete, another instance's claim): the lock was no longer on it.
  for (const call of calls.filter(refusedByFence)) {
    const acquired = calls
      .filter(
        (acquire) =>
          acquire.method === 'acquireLock' &&
          acquire.instance === call.instance &&
          acquire.key === call.key &&
          returned(acquire) === true &&
          acquire.start < call.start,
      )
      .sort((a, b) => b.start - a.start)[0];
    const since = confirms.get(acquired as AdapterCall)?.start ?? acquired?.start;
    const displaced =
      since !== undefined &&
      calls.some(
        (other) =>
          other !== call &&
          other.key === call.key &&
          other.end > since &&
          other.start < call.end &&
          (other.method === 'set' ||
            other.method === 'delete' ||
            (other.method === 'acquireLock' &&
              other.instance !== call.instance &&
              returned(other) === true)),
      );
    if (heldAtStart.get(call) === true && displaced) exceptionsUsed.fencedSet += 1;
    else
      problems.push(`${describe(call)} refused by the fence although its lock was not displaced`);
  }

  // Each get against the register, with the exceptions it was entitled to when it started.
  for (const call of calls) {
    if (call.method !== 'get' || !ok(call) || call.key === undefined) continue;
    const value = valueOfRecord(returned(call) as IdempotencyRecord | null);
    const possible = possibleValues(writesOf(call.key), call.start, call.end, writtenValue);
    if (possible.has(value)) continue;
    const exception = excused.get(call)?.get(value);
    if (exception !== undefined) {
      exceptionsUsed[exception] += 1;
      continue;
    }
    const tag = value === null && knownBugNull.has(call) ? `${SET_KEPT_REPLACED_LOCK} ` : '';
    problems.push(
      `${tag}${describe(call)} returned ${value === null ? 'no record' : `record ${value}`}; the key could only hold ${[...possible].map((v) => v ?? 'no record').join(' | ')}`,
    );
  }

  // acquireLock against records and locks; waitForLock against holds.
  const lockTakers = (key: string) =>
    calls.filter(
      (call) =>
        call.key === key &&
        (call.method === 'acquireLock' || (call.method === 'get' && claims(call.instance))),
    );
  /** Acquisitions of the key on the instance not yet released (nor stored over) at `at`. */
  const outstandingAt = (instance: number, key: string, at: number) => {
    let count = 0;
    const ofSlot = calls
      .filter((call) => call.instance === instance && call.key === key && call.end < at)
      .sort((a, b) => a.end - b.end);
    for (const call of ofSlot) {
      if (call.method === 'acquireLock' && returned(call) === true) count += 1;
      else if (call.method === 'releaseLock' && ok(call)) count = Math.max(0, count - 1);
      else if (call.method === 'set' && ok(call)) count = 0;
    }
    return count;
  };
  /**
   * The lock `taker` may have written is certainly gone by `before`: it wrote none, or a `set`
   * of the key came after it, or its instance released the key as its last acquisition and no
   * release of the key on that instance is still in flight (of two concurrent releases, the one
   * that sends nothing may return first).
   */
  const lockCertainlyGone = (taker: AdapterCall, before: number) => {
    if (taker.outcome?.ok !== true) return true;
    if (taker.method === 'acquireLock' && returned(taker) === false) return true;
    if (taker.method === 'get' && returned(taker) !== null) return true;
    const after = (other: AdapterCall) =>
      other.key === taker.key && other.start > taker.end && other.start < before;
    if (calls.some((other) => after(other) && other.method === 'set' && other.end < before)) {
      return true;
    }
    const releases = calls.filter(
      (other) =>
        after(other) && other.method === 'releaseLock' && other.instance === taker.instance,
    );
    return (
      releases.every((release) => release.end < before) &&
      releases.some(
        (release) => outstandingAt(release.instance, release.key as string, release.start) <= 1,
      )
    );
  };
  const sendsOf = (call: AdapterCall) =>
    run.sent.filter(
      (request) =>
        request.actor === call.actor &&
        request.send >= call.sentBefore &&
        request.send < call.sentAfter,
    );
  /**
   * README "Claim on miss", lost to a live lock: a get that lost its claim answers the next
   * acquireLock on its instance false with no request, for up to a second. Not once the lock it
   * lost to was its own instance's claim, given up by that instance's releaseLock (a bug).
   */
  const lostVerdictFor = (
    acquire: AdapterCall,
  ): 'documented' | 'own-claim-released' | undefined => {
    if (!claims(acquire.instance) || acquire.steps !== 0) return undefined;
    const lost = calls.filter(
      (get) =>
        get.method === 'get' &&
        get.instance === acquire.instance &&
        get.key === acquire.key &&
        ok(get) &&
        returned(get) === null &&
        get.end < acquire.start &&
        acquire.startMs - get.endMs <= LOST_VERDICT_MS &&
        (get.steps === 0 ||
          sendsOf(get).some(
            (request) =>
              request.owner !== undefined && request.answer === 'ConditionalCheckFailedException',
          )),
    );
    if (lost.length === 0) return undefined;
    const releasedOwnClaim = calls.some(
      (release) =>
        release.method === 'releaseLock' &&
        release.instance === acquire.instance &&
        release.key === acquire.key &&
        lost.some((get) => release.start > get.end) &&
        release.end < acquire.start &&
        sendsOf(release).some(
          (request) => request.command === 'DeleteItem' && request.answer === 'ok',
        ),
    );
    return releasedOwnClaim ? 'own-claim-released' : 'documented';
  };
  for (const call of calls) {
    if (call.key === undefined || !ok(call)) continue;
    if (call.method === 'acquireLock') {
      // A confirmed claim proved the key free when its get's claim landed.
      const from = confirms.get(call)?.start ?? call.start;
      const possible = possibleValues(writesOf(call.key), from, call.end, writtenValue);
      if (returned(call) === true && !possible.has(null)) {
        problems.push(`${describe(call)} returned true while the key certainly held a live record`);
      }
      if (returned(call) === false) {
        const locked = lockTakers(call.key).some(
          (taker) =>
            taker !== call && taker.start < call.end && !lockCertainlyGone(taker, call.start),
        );
        if (!locked && [...possible].every((v) => v === null)) {
          const verdict = lostVerdictFor(call);
          if (verdict === 'documented') exceptionsUsed.lostVerdict += 1;
          else {
            const tag = verdict === 'own-claim-released' ? `${STALE_LOST_VERDICT} ` : '';
            problems.push(
              `${tag}${describe(call)} returned false although no record and no lock could hold the key`,
            );
          }
        }
      }
    }
    if (call.method === 'waitForLock') {
      const heldThroughout = calls.filter(
        (hold) =>
          hold.method === 'acquireLock' &&
          hold.key === call.key &&
          returned(hold) === true &&
          (holdStarts.get(hold) ?? Number.POSITIVE_INFINITY) < call.start &&
          (holdEnds.get(hold) ?? Number.POSITIVE_INFINITY) > call.end,
      );
      if (heldThroughout.length > 0) {
        problems.push(
          `${describe(call)} resolved while ${heldThroughout.map(describe).join(', ')} held the key throughout`,
        );
      }
    }
  }
  for (const call of calls) {
    if (call.method !== 'waitForLock' || call.outcome?.ok !== false || call.key === undefined)
      continue;
    if (call.endMs - call.startMs < WAIT_TIMEOUT_MS) {
      problems.push(
        `${describe(call)} timed out after ${call.endMs - call.startMs} ms, before ${WAIT_TIMEOUT_MS}`,
      );
    }
    const locked = lockTakers(call.key).some(
      (taker) => taker.start < call.end && !lockCertainlyGone(taker, call.start),
    );
    if (!locked) problems.push(`${describe(call)} timed out although no lock could hold the key`);
  }

  // Once quiet: every lock item is someone's, and releasing frees them all.
  /** The call that wrote the lock item (its owner token), if one of the run did. */
  const writerOf = (item: Record<string, unknown>) => {
    const writer = run.sent.find((sent) => sent.owner === item.owner);
    return writer === undefined
      ? undefined
      : calls.find(
          (call) =>
            call.actor === writer.actor &&
            call.sentBefore <= writer.send &&
            writer.send < call.sentAfter,
        );
  };
  /** The tag of the known bug that leaves this lock item behind, if one does. */
  const knownCause = (item: Record<string, unknown>): string => {
    const key = String(item.cacheKey);
    if (staleConfirms.has(key)) return `${STALE_CLAIM_CONFIRMED} `;
    const writer = writerOf(item);
    // A set through the same instance, in flight when the lock was taken, ended after it.
    const forgotten =
      writer !== undefined &&
      calls.some(
        (set) =>
          set.method === 'set' &&
          set.key === key &&
          set.instance === writer.instance &&
          set.start < writer.end &&
          set.end > writer.end,
      );
    if (forgotten) return `${SET_FORGOT_NEWER_LOCK} `;
    // A claim another get of the instance won meanwhile took its place.
    const displaced =
      writer !== undefined &&
      writer.method === 'get' &&
      calls.some(
        (rival) =>
          rival !== writer &&
          rival.instance === writer.instance &&
          rival.key === key &&
          wonClaim(rival, run.sent) &&
          rival.start < writer.end &&
          rival.end > writer.start,
      );
    return displaced ? `${CLAIM_DISPLACED} ` : '';
  };
  for (const item of run.locksWhenQuiet) {
    const key = String(item.cacheKey);
    const writerCall = writerOf(item);
    if (writerCall === undefined) {
      problems.push(`${key}: lock ${String(item.owner)} once quiet, written by no call of the run`);
      continue;
    }
    // A release frees the latest lock only as the last acquisition outstanding on its instance
    // (README "Locking design": a key held twice is deleted by the last of the two releases).
    const releasedSince = calls.some(
      (other) =>
        other.key === key &&
        other.instance === writerCall.instance &&
        other.method === 'releaseLock' &&
        other.start > writerCall.end &&
        outstandingAt(other.instance, key, other.start) <= 1 &&
        !calls.some(
          (taker) =>
            taker.key === key &&
            taker.instance === writerCall.instance &&
            (taker.method === 'acquireLock' || taker.method === 'get') &&
            taker.start > writerCall.end &&
            taker.start < other.start,
        ),
    );
    if (releasedSince) {
      problems.push(
        `${knownCause(item)}${key}: lock written by ${describe(writerCall)} survived its instance's release`,
      );
    }
  }
  for (const error of run.releaseErrors) problems.push(`at quiet: ${error}`);
  for (const item of run.locksAfterRelease) {
    problems.push(
      `${knownCause(item)}${String(item.cacheKey)} still locked after every instance released it (owner ${String(item.owner)})`,
    );
  }
  return { problems, exceptionsUsed };
}
