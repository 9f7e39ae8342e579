/**
 * A minimal WebSocket server (RFC 6455) for the edge suites, on a `TestUpstream`'s `upgrade` event:
 * it completes the handshake, echoes every text frame as `echo: <text>`, answers a close frame with
 * a close frame, and lets the test push a message or start a close. Unfragmented frames only, which
 * is all the tests send. `/ws/forbidden` refuses the handshake with a plain 403.
 */
import { createHash } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { TestUpstream } from './proxy-upstreams.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export interface TestWebSocketConnection {
  readonly path: string;
  /** The close code the client sent, once it did. */
  closeCode: number | undefined;
  /** The TCP connection has ended. */
  ended: boolean;
  send(text: string): void;
  close(code: number, reason: string): void;
}

export interface TestWebSocketServer {
  readonly connections: TestWebSocketConnection[];
}

export function acceptWebSocket(upstream: TestUpstream): TestWebSocketServer {
  const connections: TestWebSocketConnection[] = [];
  upstream.onUpgrade((req, socket, head) => {
    if (req.url === '/ws/forbidden') {
      socket.end(
        'HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\ncontent-length: 2\r\nconnection: close\r\n\r\nno',
      );
      return;
    }
    const key = String(req.headers['sec-websocket-key'] ?? '');
    const accept = createHash('sha1')
      .update(key + GUID)
      .digest('base64');
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${accept}\r\n\r\n`,
    );
    const connection: TestWebSocketConnection = {
      path: req.url ?? '',
      closeCode: undefined,
      ended: false,
      send: (text) => socket.write(frame(1, Buffer.from(text))),
      close: (code, reason) => {
        const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
        payload.writeUInt16BE(code, 0);
        payload.write(reason, 2);
        socket.write(frame(8, payload));
      },
    };
    connections.push(connection);
    socket.on('close', () => {
      connection.ended = true;
    });
    socket.on('error', () => socket.destroy());
    readFrames(socket, head, (opcode, payload) => {
      if (opcode === 1) connection.send(`echo: ${payload.toString()}`);
      else if (opcode === 8) {
        connection.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        socket.end(frame(8, payload));
      } else if (opcode === 9) socket.write(frame(10, payload));
    });
  });
  return { connections };
}

/** A server frame: FIN set, not masked. */
function frame(opcode: number, payload: Buffer): Buffer {
  const length = payload.length;
  const head =
    length < 126
      ? Buffer.from([0x80 | opcode, length])
      : length < 65_536
        ? Buffer.from([0x80 | opcode, 126, length >> 8, length & 255])
        : (() => {
            const h = Buffer.alloc(10);
            h[0] = 0x80 | opcode;
            h[1] = 127;
            h.writeBigUInt64BE(BigInt(length), 2);
            return h;
          })();
  return Buffer.concat([head, payload]);
}

/** Parses masked client frames from `socket` (after `head`), calling `onFrame` for each. */
function readFrames(socket: Duplex, head: Buffer, onFrame: (opcode: number, payload: Buffer) => void): void {
  let buffered = head;
  const parse = () => {
    for (;;) {
      if (buffered.length < 2) return;
      const opcode = buffered[0]! & 0x0f;
      const masked = (buffered[1]! & 0x80) !== 0;
      let length = buffered[1]! & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (buffered.length < 4) return;
        length = buffered.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (buffered.length < 10) return;
        length = Number(buffered.readBigUInt64BE(2));
        offset = 10;
      }
      const maskLength = masked ? 4 : 0;
      if (buffered.length < offset + maskLength + length) return;
      const mask = buffered.subarray(offset, offset + maskLength);
      const payload = Buffer.from(buffered.subarray(offset + maskLength, offset + maskLength + length));
      if (masked) for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i % 4]!;
      buffered = buffered.subarray(offset + maskLength + length);
      onFrame(opcode, payload);
    }
  };
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    parse();
  });
  parse();
}
