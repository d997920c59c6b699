/**
 * Writes the packets of a binlog dump to the replica's socket: each event as its own packet (a 0x00
 * status byte, then the event), numbered on from the dump command's sequence id, with payloads of
 * 16 MiB or more split as the protocol requires (protocol/packet-stream.ts framePayload). Packets are
 * gathered into writes of about `batchBytes`, and the sender waits while the socket's buffer is
 * full, so a slow replica holds memory at one batch plus the socket's high-water mark.
 */
import type { Socket } from 'node:net';
import { framePayload } from '../protocol/packet-stream.js';
import { ResponseHeader } from '../protocol/server-packets.js';

const STATUS_OK = Buffer.from([ResponseHeader.OK]);

export class PacketSink {
  private seq: number;
  private parts: Buffer[] = [];
  private partsBytes = 0;
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
    this.packet(Buffer.concat([STATUS_OK, bytes], bytes.length + 1));
  }

  /** Queues one packet payload (an ERR or EOF packet). */
  packet(payload: Buffer): void {
    const { bytes, nextSequenceId } = framePayload(payload, this.seq);
    this.seq = nextSequenceId;
    this.parts.push(bytes);
    this.partsBytes += bytes.length;
  }

  /** Writes what is queued when a batch is full. */
  async maybeFlush(): Promise<void> {
    if (this.partsBytes >= this.batchBytes) await this.flush();
  }

  /** Writes what is queued and waits while the socket's buffer is over its high-water mark. */
  async flush(): Promise<void> {
    if (this.partsBytes === 0 || this.isClosed) {
      this.parts = [];
      this.partsBytes = 0;
      return;
    }
    const data = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.partsBytes);
    this.parts = [];
    this.partsBytes = 0;
    this.bytesWritten += data.length;
    this.lastWriteMs = Date.now();
    if (!this.socket.write(data)) {
      await Promise.race([new Promise<void>((resolve) => this.socket.once('drain', () => resolve())), this.closed]);
    }
  }
}
