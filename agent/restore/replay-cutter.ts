import { INITIAL_FORMAT, type BinlogFormat } from '../binlog/binlog-format.js';
import { decodeEvent, gtidOf } from '../binlog/decode.js';
import { BINLOG_MAGIC, BinlogParser } from '../binlog/event-parser.js';
import type { RawEvent } from '../binlog/raw-event.js';
import { TransactionTracker, transactionRole } from '../binlog/transaction.js';
import { GtidPosition } from '../binlog/gtid-position.js';
import { parseMariaGtid, parseMariaGtidList, type MariaGtid } from '../protocol/gtid.js';
import type { StopRule } from './plan.js';

/**
 * Turns verified chunk bodies into the byte stream `mariadb-binlog -` reads: the magic, the
 * leading events of the first file (FORMAT_DESCRIPTION, GTID list...), then whole transactions
 * from the backup's position on, each file's events following the previous file's ROTATE.
 *
 * Only complete transactions are released, and each is released only once the stop rule says
 * it belongs: a stream cut here never holds a partial transaction and never one past the target.
 * Pure: bytes in, bytes out; every event's CRC32 is checked by the parser (a mismatch throws
 * ProtocolError, naming the chunk, before any byte of that chunk is released).
 */
export interface CutterOptions {
  from: { file: string; pos: number };
  stop: StopRule;
  /** GTID position already in the base backup (a `gtid` target may be reached by it). */
  backupGtid: string;
}

export interface CutterSummary {
  transactions: number;
  /** GTID of the last transaction released ('' when none). */
  lastGtid: string;
  /** The whole GTID position after the last transaction released (the backup's when none was). */
  gtidPos: string;
  /** Commit timestamp (seconds) of the last transaction released (0 when none). */
  lastCommitSec: number;
  /** Bytes released. */
  bytes: number;
  stoppedBy: 'end' | 'time' | 'gtid';
}

export interface ChunkRefLike {
  key: string;
  file: string;
  start: number;
}

export class ReplayCutter {
  private started = false;
  private file = '';
  private parser: BinlogParser | undefined;
  private readonly formats = new Map<string, BinlogFormat>();
  private tracker = new TransactionTracker();
  private pending: Buffer[] = [];
  private pendingGtid: string | undefined;
  /** Still inside the leading events of the start file. */
  private inHeader = true;
  private stopped = false;
  private readonly reached = new Set<number>();
  private readonly summary: CutterSummary = { transactions: 0, lastGtid: '', gtidPos: '', lastCommitSec: 0, bytes: 0, stoppedBy: 'end' };
  private readonly position: GtidPosition;

  constructor(private readonly opts: CutterOptions) {
    this.position = new GtidPosition(opts.backupGtid);
    this.summary.gtidPos = this.position.text;
    if (opts.stop.kind === 'gtid') {
      const inBackup = parseMariaGtidList(opts.backupGtid);
      for (const t of opts.stop.gtids) if (inBackup.some((g) => g.domainId === t.domainId && g.seqNo >= t.seqNo)) this.reached.add(t.domainId);
      if (this.reached.size === opts.stop.gtids.length) this.finish('gtid');
    }
  }

  /** True once the stop rule has ended the replay: later chunks are not needed. */
  get done(): boolean {
    return this.stopped;
  }

  get result(): CutterSummary {
    return { ...this.summary };
  }

  /**
   * Feeds the next chunk (in plan order: the header chunk, if any, first). Returns the bytes to
   * send, in order. Throws ProtocolError for a damaged event; nothing of this chunk is returned then.
   */
  chunk(ref: ChunkRefLike, body: Buffer): Buffer[] {
    if (this.stopped) return [];
    const out: Buffer[] = [];
    if (!this.started) {
      out.push(BINLOG_MAGIC);
      this.started = true;
    }
    if (ref.file !== this.file || !this.parser || ref.start !== this.parser.position) {
      this.file = ref.file;
      // a file's first chunk carries its FORMAT_DESCRIPTION; a later chunk of it is read with
      // the format that FDE declared (or CRC32, which the agent requires, when it was not seen)
      const format = ref.start === 4 ? { ...INITIAL_FORMAT, checksum: 'n/a' as const } : (this.formats.get(ref.file) ?? { ...INITIAL_FORMAT, checksum: 'CRC32' as const });
      this.parser = new BinlogParser({ magic: false, startOffset: ref.start, format, source: ref.key });
    }
    const events = this.parser.feed(body);
    if (this.parser.pendingBytes > 0) {
      this.parser = undefined;
      throw new Error(`chunk ${ref.key} ends inside an event`);
    }
    this.formats.set(ref.file, this.parser.format);
    const pendingBefore = this.pending.length;
    try {
      for (const ev of events) {
        this.event(ref.file, ev, out);
        if (this.stopped) break;
      }
    } catch (err) {
      this.pending.length = pendingBefore;
      throw err;
    }
    for (const b of out) this.summary.bytes += b.length;
    return out;
  }

  private finish(by: CutterSummary['stoppedBy']): void {
    this.stopped = true;
    this.summary.stoppedBy = by;
    this.pending = [];
  }

  private event(file: string, ev: RawEvent, out: Buffer[]): void {
    const decoded = decodeEvent(ev);
    const role = transactionRole(decoded);
    const beforeStart = file === this.opts.from.file && ev.offset < this.opts.from.pos;
    if (beforeStart) {
      // before the backup's position only the file's leading events are wanted (the reader
      // needs its FORMAT_DESCRIPTION); the transactions there are inside the backup
      if (this.inHeader && role === 'none') out.push(ev.bytes);
      else this.inHeader = false;
      return;
    }
    this.inHeader = false;
    const step = this.tracker.step(role, ev.offset);
    const gtid = gtidOf(decoded);
    if (gtid !== undefined) this.pendingGtid = gtid;
    if (step.ended) {
      this.pending.push(ev.bytes);
      this.commit(ev, out);
      return;
    }
    if (!step.boundary) {
      this.pending.push(ev.bytes);
      return;
    }
    // between transactions: ROTATE, GTID list, checkpoint... go out as they are; a transaction
    // cut off by the end of its file (a crash) is dropped, as the server itself would
    this.pending = [];
    this.pendingGtid = undefined;
    out.push(ev.bytes);
  }

  /**
   * A transaction ended with `ev`: release it unless the stop rule says otherwise. A `gtid` stop is
   * a point in the stream, just after the named GTIDs: a transaction of a named domain past its
   * GTID is left out (as MariaDB's UNTIL master_gtid_pos leaves it), every other transaction before
   * the point is released, and the replay ends once each named domain is reached.
   */
  private commit(ev: RawEvent, out: Buffer[]): void {
    const stop = this.opts.stop;
    const gtid = this.pendingGtid;
    let g: MariaGtid | undefined;
    try {
      g = gtid ? parseMariaGtid(gtid) : undefined;
    } catch {
      g = undefined;
    }
    if (stop.kind === 'time' && ev.header.timestamp > stop.lastCommitSec) return this.finish('time');
    const named = stop.kind === 'gtid' && g ? stop.gtids.find((x) => x.domainId === g!.domainId) : undefined;
    if (named && g && g.seqNo > named.seqNo) {
      // past its domain's stop GTID: left out; the named GTID itself is missing when not reached yet
      this.pending = [];
      this.pendingGtid = undefined;
      this.reach(named.domainId);
      return;
    }
    out.push(...this.pending);
    this.pending = [];
    this.pendingGtid = undefined;
    this.summary.transactions++;
    if (gtid) {
      this.summary.lastGtid = gtid;
      this.position.apply(gtid);
      this.summary.gtidPos = this.position.text;
    }
    this.summary.lastCommitSec = ev.header.timestamp;
    if (named && g && g.seqNo >= named.seqNo) this.reach(named.domainId);
  }

  private reach(domainId: number): void {
    if (this.opts.stop.kind !== 'gtid') return;
    this.reached.add(domainId);
    if (this.reached.size === this.opts.stop.gtids.length) this.finish('gtid');
  }
}
