import { describe, expect, it } from 'vitest';
import { GroundworkError } from '../core/errors.js';
import { Metrics } from '../core/metrics.js';
import { Bus } from './bus.js';
import type { BusDriver, BusDriverCapabilities, BusDriverListener } from './bus-driver.js';
import { encodeEnvelope } from './bus-envelope.js';
import { MemoryBusDriver } from './drivers/memory-bus-driver.js';

/** A scripted driver: records calls, lets the test play the engine. */
class FakeDriver implements BusDriver {
  readonly name = 'fake';
  readonly capabilities: BusDriverCapabilities;
  listener: BusDriverListener | undefined;
  readonly calls: string[] = [];
  /** Results of the next subscribe calls (true = succeed); default succeed. */
  readonly subscribeResults: boolean[] = [];

  constructor(maxPayloadBytes = 1_000_000) {
    this.capabilities = { crossProcess: true, maxPayloadBytes, maxChannelBytes: 100 };
  }

  async open(listener: BusDriverListener): Promise<void> {
    this.listener = listener;
  }
  async publish(channel: string, payload: string): Promise<void> {
    this.calls.push(`publish ${channel} ${JSON.parse(payload).data}`);
  }
  subscribe(channels: readonly string[]): Promise<void> {
    this.calls.push(`subscribe ${channels.join(',')}`);
    const ok = this.subscribeResults.shift() ?? true;
    return ok ? Promise.resolve() : Promise.reject(new Error('engine said no'));
  }
  async unsubscribe(channels: readonly string[]): Promise<void> {
    this.calls.push(`unsubscribe ${channels.join(',')}`);
  }
  async close(): Promise<void> {
    this.calls.push('close');
  }
}

const envelope = (topic: string, data: unknown, id = 'id-1') =>
  encodeEnvelope({ id, topic, origin: 'other-node', publishedAt: 1_000 }, data);

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

describe('Bus', () => {
  it('drops a second delivery of one message id and payloads that are not envelopes', async () => {
    const driver = new FakeDriver();
    const metrics = new Metrics({ processMetrics: false });
    const bus = new Bus({ driver, channelPrefix: 'p:', metrics });
    const got: unknown[] = [];
    await bus.subscribe('t', (message) => {
      got.push(message);
    });
    driver.listener!.message('p:t', envelope('t', 'once'));
    driver.listener!.message('p:t', envelope('t', 'once'));
    driver.listener!.message('p:t', 'not json');
    driver.listener!.message('p:t', '{"v":2,"id":"x","topic":"t","origin":"o","at":1,"data":1}');
    driver.listener!.message('p:t', envelope('other', 'wrong topic', 'id-2'));
    driver.listener!.message('p:unknown', envelope('unknown', 'no subscriber', 'id-3'));
    expect(got).toEqual(['once']);
    expect(bus.counters).toMatchObject({ delivered: 1, duplicates: 1, malformed: 3 });
    const text = await metrics.render();
    expect(text).toContain('bus_messages_dropped_total{driver="fake",reason="duplicate"} 1');
    expect(text).toContain('bus_messages_dropped_total{driver="fake",reason="malformed"} 3');
    expect(text).toMatch(/bus_delivery_delay_seconds_count\{driver="fake"\} 1/);
  });

  it('forgets only the oldest ids beyond duplicateWindow', async () => {
    const driver = new FakeDriver();
    const bus = new Bus({ driver, duplicateWindow: 2 });
    const got: unknown[] = [];
    await bus.subscribe('t', (message) => {
      got.push(message);
    });
    for (const id of ['a', 'b', 'c', 'c', 'b', 'a']) driver.listener!.message('gw:t', envelope('t', id, id));
    // 'a' left the window when 'c' arrived; 'b' and 'c' were still remembered.
    expect(got).toEqual(['a', 'b', 'c', 'a']);
  });

  it('after a reconnect, resubscribes every topic in one call, retries a failure, then calls onReconnect once', async () => {
    const driver = new FakeDriver();
    const bus = new Bus({ driver });
    await bus.subscribe('a', () => {});
    await bus.subscribe('b', () => {});
    let reconnects = 0;
    bus.onReconnect(() => {
      reconnects++;
    });
    bus.onReconnect(() => {
      throw new Error('a failing listener does not stop the others');
    });
    driver.calls.length = 0;
    driver.listener!.disconnected(new Error('gone'));
    expect(bus.connected).toBe(false);
    driver.subscribeResults.push(false);
    driver.listener!.reconnected();
    await settle();
    expect(reconnects).toBe(0);
    expect(driver.calls).toEqual(['subscribe gw:a,gw:b']);
    await expect.poll(() => reconnects, { timeout: 2_000, interval: 10 }).toBe(1);
    expect(driver.calls).toEqual(['subscribe gw:a,gw:b', 'subscribe gw:a,gw:b']);
    expect(bus.counters.reconnects).toBe(1);
  });

  it('abandons a resubscription overtaken by another connection loss', async () => {
    const driver = new FakeDriver();
    const bus = new Bus({ driver });
    await bus.subscribe('a', () => {});
    let reconnects = 0;
    bus.onReconnect(() => {
      reconnects++;
    });
    driver.listener!.disconnected();
    driver.listener!.reconnected();
    driver.listener!.disconnected(); // before the resubscription's reply
    await settle();
    expect(reconnects).toBe(0);
    driver.listener!.reconnected();
    await settle();
    expect(reconnects).toBe(1);
  });

  it('a failed engine subscription rejects, removes the handler, and lets the next subscribe try again', async () => {
    const driver = new FakeDriver();
    const bus = new Bus({ driver });
    driver.subscribeResults.push(false);
    const handled: unknown[] = [];
    const error = await bus.subscribe('t', (m) => void handled.push(m)).catch((e: unknown) => e);
    expect((error as GroundworkError).code).toBe('BUS_ERR_UNAVAILABLE');
    expect(bus.topics()).toEqual([]);
    await bus.subscribe('t', (m) => void handled.push(m));
    expect(driver.calls.filter((c) => c.startsWith('subscribe'))).toHaveLength(2);
    driver.listener!.message('gw:t', envelope('t', 1));
    expect(handled).toEqual([1]);
  });

  it('a handler that unsubscribes another during delivery stops it for that very message', async () => {
    const driver = new FakeDriver();
    const bus = new Bus({ driver });
    const calls: string[] = [];
    let stopSecond = (): void => {};
    await bus.subscribe('t', () => {
      calls.push('first');
      stopSecond();
    });
    stopSecond = await bus.subscribe('t', () => void calls.push('second'));
    driver.listener!.message('gw:t', envelope('t', 1));
    expect(calls).toEqual(['first']);
    expect(driver.calls).not.toContain('unsubscribe gw:t'); // the first still holds the topic
  });

  it('publishes made before start are sent after it, in call order', async () => {
    const driver = new FakeDriver();
    const bus = new Bus({ driver });
    await Promise.all([bus.publish('t', 1), bus.publish('t', 2), bus.publish('t', 3)]);
    expect(driver.calls).toEqual(['publish gw:t 1', 'publish gw:t 2', 'publish gw:t 3']);
    expect(bus.counters.published).toBe(3);
  });

  it('maxMessageBytes never exceeds the driver limit; the maximum topic length leaves room for the prefix', () => {
    const bus = new Bus({ driver: new FakeDriver(500), maxMessageBytes: 10_000, channelPrefix: 'abcd:' });
    expect(bus.maxMessageBytes).toBe(500);
    expect(bus.maxTopicBytes).toBe(95);
    expect(new Bus({ driver: new FakeDriver(), maxMessageBytes: 300 }).maxMessageBytes).toBe(300);
    expect(() => new Bus({ driver: new FakeDriver(), channelPrefix: 'bad prefix' })).toThrow(GroundworkError);
  });

  it('memory driver: handlers never run inside publish', async () => {
    const bus = new Bus({ driver: new MemoryBusDriver() });
    let inPublish = false;
    const seen: boolean[] = [];
    await bus.subscribe('t', () => void seen.push(inPublish));
    inPublish = true;
    const sent = bus.publish('t', 'x');
    inPublish = false;
    await sent;
    await expect.poll(() => seen).toEqual([false]);
  });

  it('after close, a message already in flight reaches no handler and the driver is closed', async () => {
    const driver = new FakeDriver();
    const bus = new Bus({ driver });
    const got: unknown[] = [];
    await bus.subscribe('t', (m) => void got.push(m));
    await bus.close();
    await bus.close();
    driver.listener!.message('gw:t', envelope('t', 1));
    expect(got).toEqual([]);
    expect(driver.calls.filter((c) => c === 'close')).toHaveLength(1);
    expect(await bus.check()).toMatch(/down/);
  });
});
