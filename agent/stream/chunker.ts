import { GtidPosition } from '../binlog/gtid-position.js';
import type { BodyPool } from './body-pool.js';
import type { Spill, SpillFactory, SpilledBody } from './spill.js';

/**
 * Cuts the event stream of a binlog into chunks: contiguous byte ranges of one file, made of
 * whole events, each ending on a transaction boundary or at the end of the file.
 *
 * Pure: events and the current time go in, finished chunks come out. The caller decides what a
 * boundary is (agent/binlog/transaction.ts) and passes only events that are bytes of the file
 * (no heartbeats, no fake ROTATE, no re-sent FORMAT_DESCRIPTION).
 *
 * When is a chunk cut?
 * - at a ROTATE or STOP event (the file ends there);
 * - at a transaction boundary, once the finished transactions waiting hold `maxBytes`;
 * - on `tick`, once the oldest finished transaction has waited `maxAgeMs` (measured from its
 *   arrival here, so a quiet server produces no chunks at all: an idle minute costs no PUT);
 * - in lossless mode, when the caller sees `acksWaiting` (a finished transaction asked for a
 *   semi-sync reply: its commit waits for the chunk) and nothing more has arrived to read, it
 *   calls `flush`: commits that arrive together share one chunk, and none waits for size or age.
 * An unfinished transaction is never cut; it waits for its end. One that alone outgrows
 * `maxBytes` is spilled to disk (when a spill is configured) and becomes a chunk of its own.
 */
export interface ChunkerEvent {
  file: string;
  /** File offset of the event's first byte. */
  start: number;
  /** The event's exact bytes (header to checksum). */
  bytes: Buffer;
  /** The event header's timestamp, seconds. */
  timestampSec: number;
  /** Set on the event that begins a transaction with a GTID (MariaDB `d-s-n`, MySQL `uuid:n`). */
  gtid?: string;
  /** Set on a GTID_LIST / PREVIOUS_GTIDS event: the GTID position the file holds at this point. */
  gtidList?: string;
  /** The server_id in the event's header (who wrote it). */
  serverId?: number;
  /** True when the stream is between transactions after this event. */
  boundary: boolean;
  /** True for ROTATE and STOP: nothing follows in this file. */
  endsFile: boolean;
  /** Semi-sync: the primary waits for a reply once this event is durable (see `acksWaiting`). */
  ackRequested?: boolean;
}

export interface Chunk {
  file: string;
  start: number;
  /** Offset just past the last event. */
  end: number;
  /** The chunk's bytes in memory, or (`spilled`) on local disk. */
  body?: Buffer;
  spilled?: SpilledBody;
  sizeBytes: number;
  firstGtid: string;
  lastGtid: string;
  firstTs: number;
  lastTs: number;
  events: number;
  /** True when the chunk ends the file (its last event is a ROTATE or STOP). */
  endsFile: boolean;
  /** The server's whole GTID position at `end` (every domain): what the durable position records. */
  gtidPos: string;
  /** The server_ids in the chunk's event headers, ascending (a replica skips its own). */
  serverIds: number[];
}

export interface ChunkerOptions {
  maxBytes: number;
  maxAgeMs: number;
  /**
   * Where a transaction goes once it alone exceeds `maxBytes`: it is written out event by event
   * and becomes one chunk of its own, so memory never holds it whole. Without it, such a
   * transaction is held in memory until it ends.
   */
  spill?: SpillFactory;
  /**
   * The GTID position where the first event begins (every domain). Each chunk's `gtidPos` is
   * this, moved on by every transaction that ends inside the chunks before it and itself.
   */
  gtidPos?: string;
  /** Where chunk bodies come from (the shipper gives them back once stored). @default fresh buffers */
  bodies?: BodyPool;
}

export class ChunkOrderError extends Error {}

/** An event held until its chunk is cut: its bytes are already in the chunk's buffer. */
type HeldEvent = Omit<ChunkerEvent, 'bytes'> & { sizeBytes: number };

/** The first buffer of a chunker without a pool: grown by doubling when a chunk needs more. */
const FIRST_BUFFER_BYTES = 1024 * 1024;

/** A transaction being spilled: its events are on disk, its description here. */
interface Spilling {
  spill: Spill;
  file: string;
  start: number;
  firstGtid: string;
  lastGtid: string;
  firstTs: number;
  lastTs: number;
  events: number;
  gtids: string[];
  serverIds: Set<number>;
}

export class Chunker {
  /** Finished transactions (and events between transactions) waiting to be cut. */
  private ready: HeldEvent[] = [];
  private readyBytes = 0;
  private readySinceMs = 0;
  /** Events of the transaction in progress. */
  private open: HeldEvent[] = [];
  private openBytes = 0;
  /**
   * The next chunk's body as it arrives: the ready events' bytes, then the open ones'. Each event
   * is copied here once, when pushed, so the caller's buffer (a socket read) is garbage at once
   * rather than held until the cut; a cut hands this buffer over without copying.
   */
  private body: Buffer | undefined;
  private file: string | undefined;
  private next: number | undefined;
  private spilling: Spilling | undefined;
  /** The GTID position after the last finished transaction (what the next chunk ends at). */
  private readonly gtidPos: GtidPosition;
  /** A finished transaction waiting to be cut asked for a semi-sync reply. */
  private ackInReady = false;

  constructor(private readonly opts: ChunkerOptions) {
    this.gtidPos = new GtidPosition(opts.gtidPos ?? '');
  }

  /** Moves the position over events that are finished: a transaction that ended, or events between transactions. */
  private finished(events: readonly HeldEvent[]): void {
    for (const e of events) {
      if (e.gtidList !== undefined) this.gtidPos.merge(e.gtidList);
      if (e.gtid !== undefined) this.gtidPos.apply(e.gtid);
    }
  }

  /** Bytes held in memory: finished and unfinished (a spilled transaction is on disk). */
  get heldBytes(): number {
    return this.readyBytes + this.openBytes;
  }

  /**
   * Lossless mode: a finished transaction held here asked for a semi-sync reply, so its commit
   * waits until the chunk holding it is durable. The caller `flush`es once nothing more is
   * readable (commits that arrived together then share a chunk).
   */
  get acksWaiting(): boolean {
    return this.ackInReady;
  }

  /** File and offset just past the last event received. */
  get position(): { file: string; pos: number } | undefined {
    return this.file === undefined || this.next === undefined ? undefined : { file: this.file, pos: this.next };
  }

  push(ev: ChunkerEvent, nowMs: number): Chunk[] {
    const out: Chunk[] = [];
    if (this.file !== undefined && ev.file !== this.file) {
      // the server switched files without a ROTATE (it crashed and restarted): what was finished
      // is cut; an unfinished transaction never committed and is dropped
      out.push(...this.cut());
      this.open = [];
      this.openBytes = 0;
      this.spilling?.spill.discard();
      this.spilling = undefined;
    } else if (this.next !== undefined && ev.start !== this.next) {
      throw new ChunkOrderError(`event at ${ev.file}:${ev.start} does not follow ${this.file}:${this.next}`);
    }
    this.file = ev.file;
    this.next = ev.start + ev.bytes.length;
    const { bytes, ...described } = ev;
    const held: HeldEvent = { ...described, sizeBytes: bytes.length };
    if (this.spilling) {
      this.appendSpilled(held, bytes);
    } else {
      const at = this.readyBytes + this.openBytes;
      bytes.copy(this.room(at + bytes.length), at);
      this.open.push(held);
      this.openBytes += bytes.length;
      if (this.opts.spill && this.openBytes > this.opts.maxBytes && !(ev.boundary || ev.endsFile)) {
        out.push(...this.cut()); // finished transactions go first, in their own chunk
        this.startSpill();
      }
    }
    if (ev.boundary || ev.endsFile) {
      if (this.spilling) {
        out.push(this.finishSpill());
      } else {
        if (this.ready.length === 0) this.readySinceMs = nowMs;
        if (this.open.some((e) => e.ackRequested)) this.ackInReady = true;
        this.finished(this.open);
        for (const e of this.open) this.ready.push(e);
        this.readyBytes += this.openBytes;
        this.open = [];
        this.openBytes = 0;
        if (ev.endsFile || this.readyBytes >= this.opts.maxBytes) out.push(...this.cut());
      }
    }
    if (ev.endsFile) {
      this.file = undefined;
      this.next = undefined;
    }
    return out;
  }

  private startSpill(): void {
    const first = this.open[0]!;
    this.spilling = {
      spill: this.opts.spill!(),
      file: first.file,
      start: first.start,
      firstGtid: '',
      lastGtid: '',
      firstTs: first.timestampSec,
      lastTs: first.timestampSec,
      events: 0,
      gtids: [],
      serverIds: new Set(),
    };
    // cut() went first: the open events' bytes begin the buffer
    let at = 0;
    for (const e of this.open) {
      this.appendSpilled(e, this.body!.subarray(at, at + e.sizeBytes));
      at += e.sizeBytes;
    }
    this.open = [];
    this.openBytes = 0;
  }

  private appendSpilled(ev: HeldEvent, bytes: Buffer): void {
    const s = this.spilling!;
    s.spill.append(bytes);
    s.events++;
    s.lastTs = ev.timestampSec;
    if (ev.serverId !== undefined) s.serverIds.add(ev.serverId);
    if (ev.gtid !== undefined) {
      s.firstGtid ||= ev.gtid;
      s.lastGtid = ev.gtid;
      s.gtids.push(ev.gtid);
    }
  }

  private finishSpill(): Chunk {
    const s = this.spilling!;
    this.spilling = undefined;
    const spilled = s.spill.finish();
    for (const g of s.gtids) this.gtidPos.apply(g);
    return {
      file: s.file,
      start: s.start,
      end: s.start + spilled.sizeBytes,
      spilled,
      sizeBytes: spilled.sizeBytes,
      firstGtid: s.firstGtid,
      lastGtid: s.lastGtid,
      firstTs: s.firstTs,
      lastTs: s.lastTs,
      events: s.events,
      endsFile: false,
      gtidPos: this.gtidPos.text,
      serverIds: [...s.serverIds].sort((a, b) => a - b),
    };
  }

  /** Drops what is held, removing a spill file (the stream is being abandoned). */
  discard(): void {
    this.spilling?.spill.discard();
    this.spilling = undefined;
    this.ready = [];
    this.open = [];
    this.readyBytes = 0;
    this.openBytes = 0;
    this.ackInReady = false;
    if (this.body) this.opts.bodies?.give(this.body);
    this.body = undefined;
  }

  /**
   * The body buffer, with room for `sizeBytes`: a pooled one, or (a chunk larger than the pool's
   * buffers, or no pool) one of its own, grown by doubling with the bytes so far copied over.
   */
  private room(sizeBytes: number): Buffer {
    if (this.body && this.body.length >= sizeBytes) return this.body;
    const pool = this.opts.bodies;
    let next: Buffer;
    if (!this.body && pool && sizeBytes <= pool.bufferBytes) {
      next = pool.take(pool.bufferBytes);
    } else {
      const size = Math.max(sizeBytes, 2 * (this.body?.length ?? 0), Math.min(this.opts.maxBytes, FIRST_BUFFER_BYTES));
      next = Buffer.allocUnsafeSlow(size);
      if (this.body) {
        this.body.copy(next, 0, 0, this.readyBytes + this.openBytes);
        pool?.give(this.body);
      }
    }
    this.body = next;
    return next;
  }

  tick(nowMs: number): Chunk[] {
    return this.ready.length > 0 && nowMs - this.readySinceMs >= this.opts.maxAgeMs ? this.cut() : [];
  }

  /** Cuts whatever finished transactions are waiting, regardless of size and age. */
  flush(): Chunk[] {
    return this.cut();
  }

  private cut(): Chunk[] {
    if (this.ready.length === 0) return [];
    const events = this.ready;
    const sizeBytes = this.readyBytes;
    const full = this.body!;
    this.ready = [];
    this.readyBytes = 0;
    this.ackInReady = false;
    // the chunk takes the buffer; the open transaction's bytes, if any, move to a new one
    this.body = undefined;
    if (this.openBytes > 0) full.copy(this.room(this.openBytes), 0, sizeBytes, sizeBytes + this.openBytes);
    const first = events[0]!;
    const last = events[events.length - 1]!;
    let firstGtid = '';
    let lastGtid = '';
    for (const e of events) {
      if (e.gtid !== undefined) {
        firstGtid ||= e.gtid;
        lastGtid = e.gtid;
      }
    }
    return [
      {
        file: first.file,
        start: first.start,
        end: last.start + last.sizeBytes,
        body: full.subarray(0, sizeBytes),
        sizeBytes,
        firstGtid,
        lastGtid,
        firstTs: first.timestampSec,
        lastTs: last.timestampSec,
        events: events.length,
        endsFile: last.endsFile,
        gtidPos: this.gtidPos.text,
        serverIds: serverIdsOf(events),
      },
    ];
  }
}

function serverIdsOf(events: readonly HeldEvent[]): number[] {
  const ids = new Set<number>();
  for (const e of events) if (e.serverId !== undefined) ids.add(e.serverId);
  return [...ids].sort((a, b) => a - b);
}
