import type { ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findBinary } from './engines.js';
import { launchOnFreePort, launchUntilReady } from './launch.js';
import { forgetTempDir, hasExited, spawnEngine, stopChild, trackTempDir } from './processes.js';

const HOST = '127.0.0.1';
const READY_TIMEOUT_MS = 10_000;
const BIND_ATTEMPTS = 5;

export interface RedisServer {
  readonly port: number;
  readonly host: string;
  /** PID of the running redis-server (of the last one, after `stop()`). */
  readonly pid: number;
  /** `redis://127.0.0.1:PORT` */
  readonly url: string;
  /** SIGTERM and wait for the exit; SIGKILL after 10 s. Nothing is persisted. */
  stop(): Promise<void>;
  /** Starts again on the same port after `stop()` (empty: no persistence); no-op while running. */
  start(): Promise<void>;
  /** `stop()`, then removes the temp directory. */
  destroy(): Promise<void>;
}

export interface StartRedisOptions {
  /** Fixed port; default: a free port below 32768 (retried if another process takes it first). */
  port?: number;
}

function encodeCommand(args: readonly string[]): string {
  return `*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('')}`;
}

/**
 * Byte length of the first complete reply in `data`, without its final CRLF, or -1 while incomplete.
 * Handles the one-line replies (`+`, `-`, `:`) and bulk strings (`$`); arrays are out of scope here.
 */
function completeReplyLength(data: Buffer): number {
  const lineEnd = data.indexOf('\r\n');
  if (lineEnd === -1) return -1;
  const type = String.fromCharCode(data[0] ?? 0);
  if (type === '+' || type === '-' || type === ':') return lineEnd;
  if (type === '$') {
    const size = Number(data.subarray(1, lineEnd).toString('latin1'));
    if (size < 0) return lineEnd;
    const end = lineEnd + 2 + size;
    return data.length >= end + 2 ? end : -1;
  }
  throw new Error(`redisCommand: unsupported reply type ${JSON.stringify(type)}`);
}

/**
 * Sends one RESP command on a fresh connection and resolves to the raw reply without its final CRLF:
 * `+PONG`, `-ERR ...`, `:1`, `$5\r\nhello`, `$-1`. A harness self-test tool, not a client.
 */
export function redisCommand(port: number, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: HOST, port });
    let data = Buffer.alloc(0);
    socket.setTimeout(2_000, () => socket.destroy(new Error(`redisCommand: no reply from port ${port}`)));
    socket.once('connect', () => socket.write(encodeCommand(args)));
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      try {
        const length = completeReplyLength(data);
        if (length === -1) return;
        socket.destroy();
        resolve(data.subarray(0, length).toString('utf8'));
      } catch (error) {
        socket.destroy(error as Error);
      }
    });
    socket.once('error', reject);
    socket.once('close', () => reject(new Error('redisCommand: connection closed before a reply')));
  });
}

async function answersPing(port: number): Promise<boolean> {
  try {
    return (await redisCommand(port, 'PING')) === '+PONG';
  } catch {
    return false;
  }
}

/**
 * Starts a private redis-server without persistence on a free port below 32768, ready (answers PING)
 * when the promise resolves.
 */
export async function startRedis(options: StartRedisOptions = {}): Promise<RedisServer> {
  const binary = findBinary('redis-server');
  if (binary === undefined)
    throw new Error(`'redis-server' not found (install: apt-get install redis-server)`);
  const dir = mkdtempSync(join(tmpdir(), 'groundwork-redis-'));
  trackTempDir(dir);
  const logFile = join(dir, 'redis.log');
  let port = options.port ?? 0;
  let child: ChildProcess | undefined;
  let destroyed = false;

  const launch = (): Promise<ChildProcess> =>
    launchUntilReady({
      spawn: () =>
        spawnEngine(
          binary,
          ['--bind', HOST, '--port', String(port), '--save', '', '--appendonly', 'no', '--dir', dir],
          { cwd: dir, logFile, exitSignal: 'SIGKILL' },
        ),
      ready: () => answersPing(port),
      name: 'redis-server',
      logFile,
      stopSignal: 'SIGKILL',
      what: `redis-server on port ${port} to answer PING`,
      timeoutMs: READY_TIMEOUT_MS,
      intervalMs: 10,
    });

  try {
    child = await launchOnFreePort(
      options.port,
      (free) => {
        port = free;
      },
      launch,
      /Address already in use/,
      BIND_ATTEMPTS,
    );
  } catch (error) {
    forgetTempDir(dir);
    await rm(dir, { recursive: true, force: true });
    throw error;
  }

  const stop = async (): Promise<void> => {
    if (child !== undefined) await stopChild(child, 'SIGTERM');
  };

  return {
    get port() {
      return port;
    },
    host: HOST,
    get pid() {
      return child?.pid ?? -1;
    },
    get url() {
      return `redis://${HOST}:${port}`;
    },
    stop,
    async start() {
      if (destroyed) throw new Error('startRedis: start() after destroy()');
      if (child !== undefined && !hasExited(child)) return;
      child = await launch();
    },
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      await stop();
      forgetTempDir(dir);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
