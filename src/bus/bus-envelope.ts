/**
 * The bus's wire format and names: the envelope every message travels in, topic validation, and
 * the byte size that `maxMessageBytes` bounds.
 *
 * Envelope (one JSON text, the engine payload):
 * `{"v":1,"id":"<uuid>","topic":"<topic>","origin":"<node id>","at":<ms since epoch>,"data":<message>}`
 * - `id` is unique per publish: receivers drop a second delivery of the same id.
 * - `origin` is the publishing bus's node id, so a node can skip its own messages.
 * - `at` is the publisher's clock at publish time; receivers measure delivery delay against their
 *   own clock, so the figure includes the skew between the two nodes' clocks.
 * - `topic` repeats the channel's topic; a payload whose topic differs from its channel's is
 *   dropped as malformed.
 */
import { GroundworkError } from '../core/errors.js';

export const ENVELOPE_VERSION = 1;

/** What a handler learns about a message besides its data. */
export interface BusMessageMeta {
  /** Unique per publish. */
  readonly id: string;
  readonly topic: string;
  /** Node id of the publishing bus. */
  readonly origin: string;
  /** Publisher's clock at publish time, ms since the epoch. */
  readonly publishedAt: number;
  /** `origin` is this bus's own node id. */
  readonly own: boolean;
}

export interface DecodedEnvelope {
  readonly id: string;
  readonly topic: string;
  readonly origin: string;
  readonly publishedAt: number;
  readonly data: unknown;
}

/** First character alphanumeric or `_`; then also `.` `:` `/` `-`. No spaces, quotes or NUL. */
const TOPIC = /^[A-Za-z0-9_][A-Za-z0-9_.:/-]*$/;
const PREFIX = /^[A-Za-z0-9_.:/-]*$/;

/** Throws `BUS_ERR_INVALID_TOPIC` unless `topic` matches the topic grammar and fits `maxBytes`. */
export function validateTopic(topic: unknown, maxBytes: number): asserts topic is string {
  if (typeof topic !== 'string' || !TOPIC.test(topic)) {
    throw new GroundworkError('BUS_ERR_INVALID_TOPIC', {
      detail: `Invalid bus topic ${JSON.stringify(topic)}: use A-Z a-z 0-9 _ . : / - (not first: . : / -).`,
    });
  }
  if (topic.length > maxBytes) {
    throw new GroundworkError('BUS_ERR_INVALID_TOPIC', {
      detail: `Bus topic "${topic}" is ${topic.length} bytes; this bus allows at most ${maxBytes}.`,
    });
  }
}

/** Throws `BUS_ERR_INVALID_TOPIC` unless `prefix` uses only topic characters. */
export function validateChannelPrefix(prefix: string): void {
  if (!PREFIX.test(prefix)) {
    throw new GroundworkError('BUS_ERR_INVALID_TOPIC', {
      detail: `Invalid bus channel prefix ${JSON.stringify(prefix)}: use A-Z a-z 0-9 _ . : / -.`,
    });
  }
}

/** Serialises `message` into an envelope; throws `BUS_ERR_INVALID_MESSAGE` if it is not JSON. */
export function encodeEnvelope(
  meta: { id: string; topic: string; origin: string; publishedAt: number },
  message: unknown,
): string {
  let data: string | undefined;
  try {
    data = JSON.stringify(message);
  } catch (cause) {
    throw new GroundworkError('BUS_ERR_INVALID_MESSAGE', {
      detail: `The message for bus topic "${meta.topic}" cannot be serialised to JSON.`,
      cause,
    });
  }
  if (data === undefined) {
    throw new GroundworkError('BUS_ERR_INVALID_MESSAGE', {
      detail: `The message for bus topic "${meta.topic}" has no JSON form (${typeof message}).`,
    });
  }
  // Written by hand so the message is stringified once; the other members are strings and an integer.
  return (
    `{"v":${ENVELOPE_VERSION},"id":${JSON.stringify(meta.id)},"topic":${JSON.stringify(meta.topic)},` +
    `"origin":${JSON.stringify(meta.origin)},"at":${meta.publishedAt},"data":${data}}`
  );
}

/** Parses an envelope; undefined when the payload is not one (wrong shape, version or JSON). */
export function decodeEnvelope(payload: string): DecodedEnvelope | undefined {
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (
    v.v !== ENVELOPE_VERSION ||
    typeof v.id !== 'string' ||
    typeof v.topic !== 'string' ||
    typeof v.origin !== 'string' ||
    typeof v.at !== 'number' ||
    !Object.hasOwn(v, 'data')
  ) {
    return undefined;
  }
  return { id: v.id, topic: v.topic, origin: v.origin, publishedAt: v.at, data: v.data };
}

/** Size of a payload as engines count it: UTF-8 bytes. */
export function payloadBytes(payload: string): number {
  return Buffer.byteLength(payload, 'utf8');
}
