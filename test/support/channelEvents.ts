import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { IDEMPOTENCY_CHANNELS, type IdempotencyEvents } from '../../src/events/channels.js';

type ChannelKey = keyof IdempotencyEvents;

/**
 * Collects what the adapter publishes on one channel until `stop()`; `forKey` narrows it to
 * one cache key, since every adapter in the process publishes on the same channels.
 */
export function recordEvents<K extends ChannelKey>(name: K) {
  const events: IdempotencyEvents[K][] = [];
  const listener = (message: unknown) => events.push(message as IdempotencyEvents[K]);
  subscribe(IDEMPOTENCY_CHANNELS[name], listener);
  return {
    events,
    forKey: (key: string) => events.filter((event) => event.key === key),
    stop: () => unsubscribe(IDEMPOTENCY_CHANNELS[name], listener),
  };
}
