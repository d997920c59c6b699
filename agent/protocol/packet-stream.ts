/**
 * MySQL/MariaDB packet framing: each packet is a 3-byte little-endian payload length, a 1-byte
 * sequence id, then the payload. A payload of 2^24-1 bytes or more is sent as several packets,
 * every one but the last exactly 0xffffff bytes long (a last one of 0 bytes if needed).
 * https://mariadb.com/kb/en/0-packet/
 */
import type { Socket } from 'node:net';
import { ConnectionError, ProtocolError } from '../errors.js';
import { PacketWriter } from './packet-writer.js';

/** Largest payload one physical packet carries; a packet this long is continued by the next. */
export const MAX_PACKET_PAYLOAD = 0xffffff;

/** One logical packet: its payload reassembled, and the sequence ids of its first and last parts. */
export interface Packet {
  payload: Buffer;
  firstSequenceId: number;
  lastSequenceId: number;
}

/**
 * Pure framer: bytes in (split anywhere), whole logical packets out. Keeps partial frames between
 * calls. Payloads lying inside one received chunk are returned as views of it, without copying.
 */
export class PacketFramer {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private parts: Buffer[] = [];
  private partsBytes = 0;
  private partsFirstSeq = 0;
  private partsLastSeq = 0;

  /** @param maxPayloadBytes a logical packet larger than this is a ProtocolError (memory bound) */
  constructor(private readonly maxPayloadBytes = 1024 * 1024 * 1024) {}

  /** Bytes received but not yet part of a returned packet (partial frames). */
  get pendingBytes(): number {
    return this.buffered + this.partsBytes;
  }

  push(chunk: Buffer): Packet[] {
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    const out: Packet[] = [];
    while (this.buffered >= 4) {
      const header = this.peek(4);
      const length = header.readUIntLE(0, 3);
      const seq = header.readUInt8(3);
      if (this.buffered < 4 + length) break;
      if (this.parts.length > 0 && seq !== ((this.partsLastSeq + 1) & 0xff)) {
        throw new ProtocolError(`continuation packet has sequence id ${seq}, expected ${(this.partsLastSeq + 1) & 0xff}`, {
          what: 'packet header',
        });
      }
      if (this.partsBytes + length > this.maxPayloadBytes) {
        throw new ProtocolError(`packet payload exceeds ${this.maxPayloadBytes} bytes`, { what: 'packet header' });
      }
      this.take(4);
      const payload = this.take(length);
      if (this.parts.length === 0) this.partsFirstSeq = seq;
      this.partsLastSeq = seq;
      if (length === MAX_PACKET_PAYLOAD) {
        this.parts.push(payload);
        this.partsBytes += length;
        continue;
      }
      const whole = this.parts.length === 0 ? payload : Buffer.concat([...this.parts, payload], this.partsBytes + length);
      out.push({ payload: whole, firstSequenceId: this.partsFirstSeq, lastSequenceId: seq });
      this.parts = [];
      this.partsBytes = 0;
    }
    return out;
  }

  /** The first n buffered bytes, without consuming them. */
  private peek(n: number): Buffer {
    const first = this.chunks[0];
    if (first && first.length >= n) return first.subarray(0, n);
    return Buffer.concat(this.chunks, this.buffered).subarray(0, n);
  }

  /** Consumes n buffered bytes (the caller checked they are there). */
  private take(n: number): Buffer {
    this.buffered -= n;
    const first = this.chunks[0];
    if (first && first.length >= n) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0] as Buffer;
      const used = Math.min(c.length, n - filled);
      c.copy(out, filled, 0, used);
      filled += used;
      if (used === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(used);
    }
    return out;
  }
}

/** Frames one payload as packets starting at sequence id `seq`; returns the bytes and the next id. */
export function framePayload(payload: Buffer, seq: number): { bytes: Buffer; nextSequenceId: number } {
  const w = new PacketWriter();
  let offset = 0;
  let s = seq & 0xff;
  for (;;) {
    const length = Math.min(MAX_PACKET_PAYLOAD, payload.length - offset);
    w.u24le(length).u8(s).bytes(payload.subarray(offset, offset + length));
    offset += length;
    s = (s + 1) & 0xff;
    if (length < MAX_PACKET_PAYLOAD) break;
  }
  return { bytes: w.toBuffer(), nextSequenceId: s };
}

export interface PacketStreamOptions {
  /** Names the server in errors, e.g. `127.0.0.1:3306`. */
  target: string;
  /** Pause the socket when this many bytes of whole packets wait for the reader. @default 8 MiB */
  highWaterMarkBytes?: number;
  /** Largest logical packet accepted. @default 1 GiB (MariaDB's max_allowed_packet ceiling) */
  maxPacketBytes?: number;
}

/**
 * Packets over a connected socket, pulled one at a time with `read()`. Whole packets queue up to
 * `highWaterMarkBytes`; then the socket is paused until the reader drains half of them, so a slow
 * consumer bounds memory (one partially received packet may exceed the mark: it has to be read
 * whole). The sequence id of every packet read is checked; `write()` continues the sequence and
 * `resetSequence()` starts a new command at 0.
 */
export class PacketStream {
  private readonly framer: PacketFramer;
  private readonly queue: Packet[] = [];
  private queuedBytes = 0;
  private paused = false;
  private ended = false;
  private failure: Error | undefined;
  private waiter: { resolve: (p: Packet) => void; reject: (e: Error) => void } | undefined;
  private nextSequenceId = 0;
  /** A semi-sync dump: the peer may number a packet 1 again at any point (see `allowSequenceRestart`). */
  private restartsAllowed = false;
  private readonly highWaterMarkBytes: number;
  private readonly target: string;

  constructor(private readonly socket: Socket, options: PacketStreamOptions) {
    this.target = options.target;
    this.highWaterMarkBytes = options.highWaterMarkBytes ?? 8 * 1024 * 1024;
    this.framer = new PacketFramer(options.maxPacketBytes);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.fail(new ConnectionError(this.target, err.message, { cause: err })));
    socket.on('close', () => this.fail(new ConnectionError(this.target, 'server closed the connection')));
  }

  /** Whether the socket is paused because the reader is behind. */
  get isPaused(): boolean {
    return this.paused;
  }

  /** Bytes held in memory: queued whole packets plus the partial frame. */
  get bufferedBytes(): number {
    return this.queuedBytes + this.framer.pendingBytes;
  }

  private onData(chunk: Buffer): void {
    let packets: Packet[];
    try {
      packets = this.framer.push(chunk);
    } catch (err) {
      this.fail(err as Error);
      this.socket.destroy();
      return;
    }
    for (const p of packets) {
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = undefined;
        w.resolve(p);
      } else {
        this.queue.push(p);
        this.queuedBytes += p.payload.length;
      }
    }
    if (!this.paused && this.queuedBytes >= this.highWaterMarkBytes) {
      this.paused = true;
      this.socket.pause();
    }
  }

  private fail(err: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.failure = err;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.reject(err);
    }
  }

  private accept(p: Packet, what: string): Buffer {
    const restarted = this.restartsAllowed && p.firstSequenceId === 1;
    if (p.firstSequenceId !== this.nextSequenceId && !restarted) {
      throw new ProtocolError(`sequence id ${p.firstSequenceId}, expected ${this.nextSequenceId}`, { what });
    }
    this.nextSequenceId = (p.lastSequenceId + 1) & 0xff;
    return p.payload;
  }

  /**
   * The next packet's payload. Packets already received are returned even after the connection
   * closed; then the close (a retryable ConnectionError) is reported. A timeout destroys the socket.
   * @param what names the expected packet in errors
   */
  async read(what: string, timeoutMs?: number): Promise<Buffer> {
    const queued = this.queue.shift();
    if (queued) {
      this.queuedBytes -= queued.payload.length;
      if (this.paused && this.queuedBytes <= this.highWaterMarkBytes / 2) {
        this.paused = false;
        this.socket.resume();
      }
      return this.accept(queued, what);
    }
    if (this.failure) throw this.failure;
    if (this.waiter) throw new ProtocolError('concurrent reads on one connection', { what });
    const packet = await new Promise<Packet>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      if (timeoutMs !== undefined && timeoutMs > 0) {
        timer = setTimeout(() => {
          this.waiter = undefined;
          const err = new ConnectionError(this.target, `no ${what} within ${timeoutMs} ms`);
          this.fail(err);
          this.socket.destroy();
          reject(err);
        }, timeoutMs);
      }
      this.waiter = {
        resolve: (p) => {
          if (timer) clearTimeout(timer);
          resolve(p);
        },
        reject: (e) => {
          if (timer) clearTimeout(timer);
          reject(e);
        },
      };
    });
    return this.accept(packet, what);
  }

  /**
   * A semi-sync dump: after each event that asks for a reply, MariaDB clears the connection's
   * sequence for the reply (sequence id 0) and numbers the next packet it sends 1, whether the
   * reply came yet or not (sql/semisync_master.cc, flush_net). From now on a packet numbered 1 is
   * accepted wherever it comes; every other one must still follow its predecessor.
   */
  allowSequenceRestart(): void {
    this.restartsAllowed = true;
  }

  /** Starts a new command: the next packet written has sequence id 0. */
  resetSequence(): void {
    this.nextSequenceId = 0;
  }

  /** Writes one payload (split into several packets if 16 MiB or more), continuing the sequence. */
  write(payload: Buffer): void {
    if (this.failure) throw this.failure;
    const { bytes, nextSequenceId } = framePayload(payload, this.nextSequenceId);
    this.nextSequenceId = nextSequenceId;
    this.socket.write(bytes);
  }

  /**
   * Writes one payload as a packet of its own at sequence id 0, leaving the sequence of the
   * exchange under way alone: a semi-sync reply on a connection the primary keeps dumping on.
   */
  writeAside(payload: Buffer): void {
    if (this.failure) throw this.failure;
    this.socket.write(framePayload(payload, 0).bytes);
  }

  /** Half-closes the socket after what was written has been sent; reads end with a ConnectionError. */
  end(): void {
    this.fail(new ConnectionError(this.target, 'connection closed by client'));
    this.socket.end();
  }

  /** Closes the socket at once; a pending read rejects with a ConnectionError. */
  destroy(): void {
    this.fail(new ConnectionError(this.target, 'connection closed by client'));
    this.socket.destroy();
  }
}
