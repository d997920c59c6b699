/**
 * Writes the packets of a binlog dump to the replica's socket: each event as its own packet (a 0x00
 * status byte, then the event), numbered on from the dump command's sequence id, with payloads of
 * 16 MiB or more split as the protocol requires (protocol/packet-stream.ts framePayload). Packets are
 * gathered into writes of about `batchBytes`, and the sender waits while the socket's buffer is
 * full, so a slow replica holds memory at one batch plus the socket's high-water mark.
 *
 * An event is copied once, straight into the batch behind its packet header: the sender's CPU is
 * taken from the replica's appliers on the same machine (a restore), so no per-event buffers.
 */
import type { Socket } from 'node:net';
import { framePayload, MAX_PACKET_PAYLOAD } from '../protocol/packet-stream.js';
import { ResponseHeader } from '../protocol/server-packets.js';

const STATUS_OK = Buffer.from([ResponseHeader.OK]);

export class PacketSink {
  private seq: number;
  /** Whole batches (and large packets) waiting for the socket. */
  private parts: Buffer[] = [];
  private partsBytes = 0;
  /** The batch being filled, and how much of it is. */
  private batch: Buffer;
  private used = 0;
  private closedFlag = false;
  private readonly closed: Promise<void>;
  /** Bytes written to the socket so far. */
  bytesWritten = 0;
  /** Time of the last write, for heartbeats. */
  lastWriteMs = Date.now();

  constructor(
    private readonly socket: Socket,
    firstSequenceId: number,
    private readonly batchBytes = 256 * 1024,
  ) {
    this.seq = firstSequenceId & 0xff;
    this.batch = Buffer.allocUnsafe(batchBytes);
    this.closed = new Promise<void>((resolve) => {
      if (socket.destroyed) resolve();
      socket.once('close', () => resolve());
    }).then(() => {
      this.closedFlag = true;
    });
  }

  /** True once the replica has gone. */
  get isClosed(): boolean {
    return this.closedFlag || this.socket.destroyed;
  }

  /** Resolves when the replica's connection closes. */
  whenClosed(): Promise<void> {
    return this.closed;
  }

  /** Queues one event. */
  event(bytes: Buffer): void {
    const payload = bytes.length + 1;
    if (payload >= MAX_PACKET_PAYLOAD) {
      this.packet(Buffer.concat([STATUS_OK, bytes], payload)); // split in 16 MiB packets
      return;
    }
    const size = 4 + payload;
    if (this.used + size > this.batch.length) this.seal(size);
    const b = this.batch;
    const at = this.used;
    b[at] = payload & 0xff;
    b[at + 1] = (payload >>> 8) & 0xff;
    b[at + 2] = payload >>> 16;
    b[at + 3] = this.seq;
    b[at + 4] = ResponseHeader.OK;
    bytes.copy(b, at + 5);
    this.used += size;
    this.seq = (this.seq + 1) & 0xff;
  }

  /** Queues one packet payload (an ERR or EOF packet, or a large event). */
  packet(payload: Buffer): void {
    this.seal(0);
    const { bytes, nextSequenceId } = framePayload(payload, this.seq);
    this.seq = nextSequenceId;
    this.parts.push(bytes);
    this.partsBytes += bytes.length;
  }

  /** Moves the batch's filled part to the queue and starts a new batch with room for `size` bytes. */
  private seal(size: number): void {
    if (this.used > 0) {
      this.parts.push(this.batch.subarray(0, this.used));
      this.partsBytes += this.used;
      this.batch = Buffer.allocUnsafe(Math.max(this.batchBytes, size));
      this.used = 0;
    } else if (this.batch.length < size) {
      this.batch = Buffer.allocUnsafe(size);
    }
  }

  /** Whether a batch's worth is queued: the caller flushes then (a getter, so the hot path awaits only when there is work). */
  get full(): boolean {
    return this.partsBytes + this.used >= this.batchBytes;
  }

  /** Writes what is queued and waits while the socket's buffer is over its high-water mark. */
  async flush(): Promise<void> {
    this.seal(0);
    if (this.partsBytes === 0 || this.isClosed) {
      this.parts = [];
      this.partsBytes = 0;
      return;
    }
    const parts = this.parts;
    this.bytesWritten += this.partsBytes;
    this.parts = [];
    this.partsBytes = 0;
    this.lastWriteMs = Date.now();
    let room = true;
    if (parts.length === 1) {
      room = this.socket.write(parts[0]!);
    } else {
      // one writev for the batches
      this.socket.cork();
      for (const part of parts) room = this.socket.write(part);
      this.socket.uncork();
    }
    if (!room) {
      await Promise.race([new Promise<void>((resolve) => this.socket.once('drain', () => resolve())), this.closed]);
    }
  }
}
