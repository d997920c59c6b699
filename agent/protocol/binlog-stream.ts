/**
 * The event stream of a running binlog dump, as an async iterator. Pull-based: a packet is read
 * only when the consumer asks for the next event, so a slow consumer fills the packet queue and
 * the socket is paused (memory stays bounded; see PacketStream). `close()` (or `break` out of a
 * `for await`) ends it at once.
 *
 * Ends: an EOF packet (NON_BLOCK dumps) finishes the iteration. An ERR packet throws a
 * ServerError, or a BinlogPurgedError when the start position is gone. A dropped connection or
 * a silence longer than `idleTimeoutMs` throws a retryable ConnectionError naming the position.
 */
import { BinlogPurgedError, ConnectionError, ServerError } from '../errors.js';
import { buildSemiSyncAck } from './commands.js';
import type { ServerConnection } from './connection.js';
import type { DumpDecoder, StreamEvent } from './dump-decoder.js';
import { ServerErrorCode, type ErrPacket } from './server-packets.js';

/** Messages of error 1236 that mean "the binlog you need is gone" (MariaDB, then MySQL wording). */
const PURGED_PATTERNS = [
  /could not find first log file name in binary log index file/i,
  /could not find GTID state requested by slave in any binlog files/i,
  /purged (binary logs|required binary logs)/i,
];

export function isPurgedBinlogError(e: ErrPacket): boolean {
  return e.errno === ServerErrorCode.ER_MASTER_FATAL_ERROR_READING_BINLOG && PURGED_PATTERNS.some((re) => re.test(e.message));
}

export interface BinlogStreamOptions {
  /** What was asked for, for errors: `file:pos` or `gtid <position>`. */
  startedFrom: string;
  /** A dump silent this long (no event, no heartbeat) is treated as dead. Undefined: wait forever. */
  idleTimeoutMs?: number;
}

export class BinlogStream implements AsyncIterableIterator<StreamEvent> {
  private done = false;
  private prefetched: IteratorResult<StreamEvent> | undefined;
  private lastFile: string;
  private lastEnd: number | undefined;

  constructor(
    private readonly conn: ServerConnection,
    private readonly decoder: DumpDecoder,
    private readonly opts: BinlogStreamOptions,
  ) {
    this.lastFile = decoder.file;
  }

  /** The file of the last event received (or the file asked for). */
  get file(): string {
    return this.lastFile;
  }

  /** Offset just past the last event of the file received, if any: where a resume would start. */
  get position(): number | undefined {
    return this.lastEnd;
  }

  /** True when more of the dump has arrived than was read: the next event is (partly) here already. */
  get hasBuffered(): boolean {
    return this.prefetched !== undefined || this.conn.packets.bufferedBytes > 0;
  }

  /** True while the socket is paused because the consumer is behind. */
  get isPaused(): boolean {
    return this.conn.packets.isPaused;
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<StreamEvent> {
    return this;
  }

  /**
   * Reads the first item now, so that a dump the server refuses (purged binlog, bad position)
   * fails when it is opened. next() returns it first.
   */
  async prefetch(): Promise<void> {
    if (this.prefetched === undefined) this.prefetched = await this.next();
  }

  async next(): Promise<IteratorResult<StreamEvent>> {
    if (this.prefetched !== undefined) {
      const first = this.prefetched;
      this.prefetched = undefined;
      return first;
    }
    if (this.done) return { done: true, value: undefined };
    let payload: Buffer;
    try {
      payload = await this.conn.read('binlog event', this.opts.idleTimeoutMs ?? 0);
    } catch (err) {
      if (this.done) return { done: true, value: undefined };
      this.finish();
      throw this.wrap(err);
    }
    if (this.done) return { done: true, value: undefined };
    let item;
    try {
      item = this.decoder.decode(payload);
    } catch (err) {
      this.finish();
      throw err;
    }
    if (item.kind === 'eof') {
      this.finish(true);
      return { done: true, value: undefined };
    }
    if (item.kind === 'error') {
      this.finish();
      throw this.serverError(item.error);
    }
    const ev = item.event;
    if (ev.end !== null) {
      this.lastFile = ev.file;
      this.lastEnd = ev.end;
    } else if (ev.file !== this.lastFile) {
      this.lastFile = ev.file;
      this.lastEnd = undefined;
    }
    return { done: false, value: ev };
  }

  /**
   * Semi-sync: tells the primary that everything up to `position` (just past an event) of `file`
   * is safe. Only for a dump started with semi-sync; a closed stream sends nothing (false).
   */
  ack(file: string, position: number): boolean {
    if (this.done) return false;
    try {
      this.conn.sendAside(buildSemiSyncAck(file, position));
      return true;
    } catch {
      return false; // the connection failed: the next read reports it
    }
  }

  async return(): Promise<IteratorResult<StreamEvent>> {
    this.close();
    return { done: true, value: undefined };
  }

  /** Stops the dump and closes the connection. Idempotent; a pending next() resolves done. */
  close(): void {
    this.finish();
  }

  private finish(polite = false): void {
    if (this.done) return;
    this.done = true;
    this.conn.close(polite);
  }

  private where(): string {
    return this.lastEnd === undefined ? `${this.lastFile || this.opts.startedFrom}` : `${this.lastFile}:${this.lastEnd}`;
  }

  private wrap(err: unknown): unknown {
    if (err instanceof ConnectionError) {
      return new ConnectionError(this.conn.target, `binlog dump interrupted at ${this.where()}`, { cause: err });
    }
    return err;
  }

  private serverError(e: ErrPacket): ServerError {
    if (isPurgedBinlogError(e)) return new BinlogPurgedError(this.conn.target, this.opts.startedFrom, e.errno, e.sqlState, e.message);
    return new ServerError(this.conn.target, `binlog dump at ${this.where()}`, e.errno, e.sqlState, e.message);
  }
}
