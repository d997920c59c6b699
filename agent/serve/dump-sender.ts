/**
 * Sends the binlog to one replica, from the S3 chunks, the way a MariaDB primary's dump thread does
 * (sql/sql_repl.cc mysql_binlog_send): for each file, a fake ROTATE naming it, its FORMAT_DESCRIPTION,
 * then its events from the chunks, each checked by the ChunkReader before it goes out; GTID start,
 * START SLAVE UNTIL and the fake primary's own stop position through GtidFilter; heartbeats while
 * nothing is sent; at the end of what is promised, EOF for a non-blocking dump, else heartbeats (or,
 * with `follow`, new chunks as the durable position moves). A missing or damaged chunk, or a gap,
 * ends the dump with ERR 1236 naming the object, which a replica shows in Last_IO_Error.
 *
 * Across epochs the timeline moves to another server's files: the replica is sent a fake ROTATE to
 * the next epoch's first file, as at any file change. An epoch that begins mid-file is preceded by
 * a FORMAT_DESCRIPTION from another file of the timeline (marked log_pos 0: not at its place).
 */
import { decodeEvent } from '../binlog/decode.js';
import { EventType } from '../binlog/event-types.js';
import { decodeFormatDescription } from '../binlog/format-description.js';
import type { RawEvent } from '../binlog/raw-event.js';
import { classifyStatement } from '../binlog/transaction.js';
import { BinlogChainError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ObjectStore } from '../ports/object-store.js';
import { formatMariaGtid, parseMariaGtidList, type MariaGtid } from '../protocol/gtid.js';
import { retrying, sleep } from '../retry.js';
import type { ChunkRef } from '../stream/chain.js';
import { readFileHead, type ChunkReader } from './chunk-reader.js';
import type { BinlogDumpRequest } from './client-commands.js';
import { fakeGtidList, fakeRotate, formatDescriptionToSend, GTID_LIST_UNTIL_REACHED, heartbeat, type EventChecksum } from './fake-events.js';
import { fileHoldsStart, GtidFilter, startAfterFile, type FilterEvent } from './gtid-filter.js';
import type { PacketSink } from './packet-sink.js';
import { buildEof, buildErr } from './responses.js';
import { ServerErrorCode } from '../protocol/server-packets.js';
import type { Timeline } from './timeline.js';

/** COM_BINLOG_DUMP flag: end with EOF at the end of the binlog instead of waiting. */
const BINLOG_DUMP_NON_BLOCK = 0x01;

/** What the replica set up with its SET statements before the dump. */
export interface DumpSession {
  /** @master_binlog_checksum; undefined when the replica never set it (not checksum-aware). */
  checksumAtConnect: EventChecksum | undefined;
  /** @master_heartbeat_period in ms; 0: no heartbeats. */
  heartbeatPeriodMs: number;
  /** @slave_connect_state; null for a file/position dump. */
  connectState: MariaGtid[] | null;
  /** @slave_until_gtid (START SLAVE UNTIL master_gtid_pos). */
  until: MariaGtid[] | undefined;
}

export interface DumpSenderOptions {
  objects: ObjectStore;
  reader: ChunkReader;
  sink: PacketSink;
  request: BinlogDumpRequest;
  session: DumpSession;
  /** The timeline as of now; called again (for new chunks) while following. */
  loadTimeline: () => Promise<Timeline>;
  /** server_id of the made-up events. */
  serverId: number;
  /** The fake primary's own end: the binlog stops after the group of these GTIDs. */
  stopAt?: MariaGtid[];
  follow: boolean;
  followPollMs: number;
  log: Logger;
}

export interface DumpResult {
  /** How the dump ended. */
  outcome: 'eof' | 'until-reached' | 'replica-gone' | 'error';
  eventsSent: number;
  bytesSent: number;
  chunksRead: number;
  /** The error sent to the replica, when outcome is 'error'. */
  error?: { object: string; message: string };
}

/** An error the dump ends with: sent to the replica as ERR 1236. */
class DumpFailure extends Error {
  constructor(
    readonly object: string,
    message: string,
  ) {
    super(message);
  }
}

function segmentKey(ref: ChunkRef): string {
  return `${ref.epoch}/${ref.file}`;
}

export class DumpSender {
  private filter: GtidFilter;
  private readonly nonBlocking: boolean;
  private checksum: EventChecksum | undefined;
  private timeline: Timeline = { segments: [], problems: [] };
  /** The last chunk handed to the reader: new ones must follow it. */
  private lastQueued: ChunkRef | undefined;
  private currentFile = '';
  private currentPos = 4;
  private lastFormatDescription: Buffer | undefined;
  private lastSegment = '';
  private startPos = 4;
  /** Chunks of the start file were jumped over: at chunk `key`, tell the filter they ended at `at`. */
  private jump: { key: string; at: MariaGtid[] } | undefined;
  /** A file/position dump whose first event has not been reached yet. */
  private awaitingStart = false;
  private eventsSent = 0;
  private firstSentAt: number | undefined;
  private chunksRead = 0;
  private stopped = false;

  constructor(private readonly opts: DumpSenderOptions) {
    this.nonBlocking = (opts.request.flags & BINLOG_DUMP_NON_BLOCK) !== 0 || opts.request.serverId === 0;
    this.checksum = opts.session.checksumAtConnect;
    this.filter = new GtidFilter(null, undefined, opts.stopAt); // replaced once the start file is known (GTID mode)
  }

  /** Runs the dump to its end; never rejects for the replica's or the chunks' faults. */
  async run(): Promise<DumpResult> {
    let outcome: DumpResult['outcome'];
    let error: DumpResult['error'];
    try {
      outcome = await this.send();
    } catch (err) {
      if (this.opts.sink.isClosed) {
        outcome = 'replica-gone';
      } else {
        const failure = err instanceof DumpFailure ? err : err instanceof BinlogChainError ? new DumpFailure(err.object, err.message) : new DumpFailure('binlog dump', (err as Error).message ?? String(err));
        error = { object: failure.object, message: failure.message };
        this.opts.log.error({ object: failure.object, err: failure.message }, `binlog dump stopped: ${failure.message}`);
        this.opts.sink.packet(buildErr(ServerErrorCode.ER_MASTER_FATAL_ERROR_READING_BINLOG, 'HY000', `squirrel: ${failure.message}`));
        await this.opts.sink.flush().catch(() => undefined);
        outcome = 'error';
      }
    } finally {
      this.stopped = true;
    }
    return { outcome, eventsSent: this.eventsSent, bytesSent: this.opts.sink.bytesWritten, chunksRead: this.chunksRead, ...(error ? { error } : {}) };
  }

  /** Stops at the next event boundary (the server is shutting down). */
  stop(): void {
    this.stopped = true;
  }

  private async send(): Promise<DumpResult['outcome']> {
    const t0 = Date.now();
    this.timeline = await this.opts.loadTimeline();
    const start = await this.findStart();
    if (start === undefined) return this.atEnd();
    this.opts.log.debug({ ms: Date.now() - t0, chunks: start.refs.length, first: start.refs[0]?.key }, 'dump start found');
    this.queue(start.refs);
    const sink = this.opts.sink;
    for (;;) {
      if (this.stopped || sink.isClosed) return 'replica-gone';
      if (this.opts.reader.queued === 0) {
        const more = await this.waitForMore();
        if (!more) return this.atEnd();
        continue;
      }
      const chunk = await this.withHeartbeats(this.opts.reader.next());
      if (this.chunksRead === 0) this.opts.log.debug({ ms: Date.now() - t0, key: chunk.ref.key, events: chunk.events.length }, 'first chunk read');
      this.chunksRead++;
      const ref = chunk.ref;
      if (segmentKey(ref) !== this.lastSegment && (await this.beginSegment(ref, chunk.events)) === 'until-reached') return 'until-reached';
      if (this.jump?.key === ref.key) {
        this.currentPos = ref.start;
        const state = this.filter.jumpedOver(this.jump.at);
        if (state) sink.event(fakeGtidList(state, 0, ref.start, this.opts.serverId, this.checksum!));
        this.jump = undefined;
      }
      for (const ev of chunk.events) {
        const type = ev.header.typeCode;
        if (type === EventType.FORMAT_DESCRIPTION && ev.offset === 4) continue; // sent by beginSegment
        if (this.awaitingStart) {
          if (ev.offset < this.startPos) continue; // before a file/position dump's start
          if (ev.offset > this.startPos) {
            throw new DumpFailure(`${ref.file}:${this.startPos}`, `Client requested master to start replication from impossible position ${this.startPos} in '${ref.file}': no event begins there`);
          }
          this.awaitingStart = false;
        }
        const verdict = this.filter.step(this.facts(ev));
        if (verdict.send && type === EventType.MARIA_GTID && ev.header.serverId === this.opts.request.serverId && this.opts.request.serverId !== 0) {
          // a replica skips the events of its own server_id without a word: refuse instead of losing them
          throw new DumpFailure(`${ref.key}:${ev.offset}`, `the replica's server_id ${this.opts.request.serverId} wrote transactions in this binlog; it would skip them. Give the replica another server_id`);
        }
        this.currentPos = ev.offset + ev.bytes.length;
        if (verdict.send) {
          if (this.firstSentAt === undefined && type === EventType.MARIA_GTID) {
            this.firstSentAt = Date.now();
            this.opts.log.debug({ ms: this.firstSentAt - t0, key: ref.key, offset: ev.offset }, 'first transaction sent');
          }
          sink.event(ev.bytes);
          this.eventsSent++;
        }
        if (verdict.fakeGtidListAfter) sink.event(fakeGtidList(verdict.fakeGtidListAfter, 0, this.currentPos, this.opts.serverId, this.checksum!));
        if (verdict.untilReachedAfter) {
          sink.event(fakeGtidList(verdict.untilReachedAfter, GTID_LIST_UNTIL_REACHED, this.currentPos, this.opts.serverId, this.checksum!));
          sink.packet(buildEof());
          await sink.flush();
          return 'until-reached';
        }
        if (verdict.stopAfter) {
          await sink.flush();
          return this.idle();
        }
        if (sink.full) await sink.flush();
      }
      await sink.flush();
    }
  }

  /** The facts the GTID filter needs; only the few event types it looks into are decoded. */
  private facts(ev: RawEvent): FilterEvent {
    const type = ev.header.typeCode;
    if (type === EventType.XA_PREPARE) return { type, commits: true };
    if (type !== EventType.MARIA_GTID && type !== EventType.MARIA_GTID_LIST && type !== EventType.QUERY) return { type };
    const d = decodeEvent(ev);
    if (d.kind === 'maria-gtid') {
      return { type, gtid: { domainId: d.gtid.domainId, serverId: d.gtid.serverId, seqNo: Number(d.gtid.seqNo) }, standalone: d.gtid.standalone };
    }
    if (d.kind === 'maria-gtid-list') return { type, gtidList: d.list.gtids.map((g) => ({ domainId: g.domainId, serverId: g.serverId, seqNo: Number(g.seqNo) })) };
    if (d.kind === 'query') return { type, commits: classifyStatement(d.query.statement) === 'commit' };
    return { type };
  }

  /** A new file: the fake ROTATE, then its FORMAT_DESCRIPTION (or another file's, mid-file). */
  private async beginSegment(ref: ChunkRef, events: RawEvent[]): Promise<'until-reached' | undefined> {
    const first = this.lastSegment === '';
    this.lastSegment = segmentKey(ref);
    this.currentFile = ref.file;
    this.currentPos = first ? this.startPos : ref.start;
    const sink = this.opts.sink;
    sink.event(fakeRotate(ref.file, this.currentPos, this.opts.serverId, this.checksum ?? 'NONE'));
    const own = ref.start === 4 ? events.find((e) => e.header.typeCode === EventType.FORMAT_DESCRIPTION && e.offset === 4) : undefined;
    let fde = own?.bytes;
    if (!fde) fde = this.lastFormatDescription ?? (await this.borrowFormatDescription(ref));
    const notInPlace = own === undefined || this.currentPos > 4;
    const fdeChecksum: EventChecksum = decodeFormatDescription(fde, 4).checksum === 'CRC32' ? 'CRC32' : 'NONE';
    if (fdeChecksum === 'CRC32' && this.opts.session.checksumAtConnect === undefined) {
      throw new DumpFailure(ref.key, 'Slave can not handle replication events with the checksum that master is configured to log');
    }
    const clearCreated = notInPlace || (this.opts.session.connectState !== null && !this.filter.startReached);
    sink.event(formatDescriptionToSend(fde, { clearLogPos: notInPlace, clearCreated }, fdeChecksum));
    this.eventsSent++;
    this.checksum = fdeChecksum;
    if (own) this.lastFormatDescription = Buffer.from(own.bytes);
    if (first && this.filter.untilAlreadyReached) {
      // START SLAVE UNTIL a position already passed: the FORMAT_DESCRIPTION, then stop
      sink.event(fakeGtidList([], GTID_LIST_UNTIL_REACHED, this.currentPos, this.opts.serverId, this.checksum));
      sink.packet(buildEof());
      await sink.flush();
      return 'until-reached';
    }
    return undefined;
  }

  /** A FORMAT_DESCRIPTION for a timeline that begins mid-file: the first file of the timeline that has one. */
  private async borrowFormatDescription(ref: ChunkRef): Promise<Buffer> {
    const donor = this.timeline.segments.find((s) => s.chunks[0]!.start === 4);
    if (!donor) throw new DumpFailure(ref.key, 'the timeline begins mid-file and no chunk holds a FORMAT_DESCRIPTION to send before it');
    return (await readFileHead(this.opts.objects, donor.chunks[0]!, { log: this.opts.log, stopped: () => this.stopped })).formatDescription;
  }

  /** Where the dump starts: the chunks to send, from the segment the request names. */
  private async findStart(): Promise<{ refs: ChunkRef[] } | undefined> {
    const { request, session } = this.opts;
    const segments = this.timeline.segments;
    if (segments.length === 0) return undefined;
    let index: number;
    if (session.connectState !== null) {
      index = await this.gtidStartSegment();
      const seg = segments[index]!;
      this.startPos = seg.chunks[0]!.start;
      const skip = await this.chunksBeforeStart(seg.chunks, session.connectState);
      if (skip) this.jump = { key: seg.chunks[skip.count + 1]!.key, at: skip.at };
      // the file's first chunk (FORMAT_DESCRIPTION, GTID_LIST) is always sent
      const own = skip ? [seg.chunks[0]!, ...seg.chunks.slice(skip.count + 1)] : seg.chunks;
      return { refs: [...own, ...segments.slice(index + 1).flatMap((s) => s.chunks)] };
    }
    index = request.file === '' ? 0 : segments.findIndex((s) => s.file === request.file);
    if (index < 0) throw new DumpFailure(request.file, `Could not find first log file name in binary log index file ('${request.file}' is not in the timeline)`);
    const seg = segments[index]!;
    this.startPos = Math.max(4, request.file === '' ? seg.chunks[0]!.start : request.position);
    this.awaitingStart = this.startPos > seg.chunks[0]!.start;
    const within = seg.chunks.findIndex((c) => c.start <= this.startPos && this.startPos < c.end);
    if (within < 0 && this.startPos !== seg.chunks[seg.chunks.length - 1]!.end) {
      throw new DumpFailure(`${seg.file}:${this.startPos}`, `Client requested master to start replication from impossible position ${this.startPos} in '${seg.file}'`);
    }
    // the file's first chunk for its FORMAT_DESCRIPTION, then from the chunk holding the position
    const from = within < 0 ? seg.chunks.length : within;
    const refs = [...(seg.chunks[0]!.start === 4 && from > 0 ? [seg.chunks[0]!] : []), ...seg.chunks.slice(from), ...segments.slice(index + 1).flatMap((s) => s.chunks)];
    return { refs };
  }

  /**
   * GTID mode: how many chunks after the start file's first one hold only groups the replica's
   * start position already holds, so that they need not be read at all (a restore starts at its
   * base backup's position, often deep into a large file: reading and checking every chunk up to
   * it delayed the first applied transaction by seconds). A chunk qualifies when its `gtid-pos`
   * metadata (the whole position at its end) is covered by the start in every domain; positions
   * only grow along a file (strict mode), so a binary search over the chunks' metadata finds the
   * last one, in a few HEAD requests. Chunks without the metadata are read as before.
   */
  private async chunksBeforeStart(chunks: readonly ChunkRef[], connect: readonly MariaGtid[]): Promise<{ count: number; at: MariaGtid[] } | undefined> {
    if (connect.length === 0 || chunks.length < 3 || chunks[0]!.start !== 4) return undefined;
    const positions = new Map<number, MariaGtid[]>();
    const covered = async (i: number): Promise<boolean> => {
      const info = await retrying(() => this.opts.objects.head(chunks[i]!.key), { stopped: () => this.stopped });
      let at: MariaGtid[];
      try {
        at = parseMariaGtidList(info?.metadata['gtid-pos'] ?? '');
      } catch {
        return false; // not a MariaDB position
      }
      const held = at.length > 0 && at.every((g) => connect.some((c) => c.domainId === g.domainId && c.seqNo >= g.seqNo));
      if (held) positions.set(i, at);
      return held;
    };
    // chunks 1..lo are known to qualify; the last chunk of the file is always read
    let lo = 0;
    let hi = chunks.length - 2;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (await covered(mid)) lo = mid;
      else hi = mid - 1;
    }
    return lo > 0 ? { count: lo, at: positions.get(lo)! } : undefined;
  }

  /** GTID mode: the newest file whose GTID_LIST says it holds the replica's start (gtid_find_binlog_file). */
  private async gtidStartSegment(): Promise<number> {
    const segments = this.timeline.segments;
    const connect = this.opts.session.connectState!;
    let chosen = 0;
    let remaining = connect;
    if (connect.length > 0) {
      let found = false;
      for (let i = segments.length - 1; i >= 0; i--) {
        const first = segments[i]!.chunks[0]!;
        if (first.start !== 4) continue;
        const head = await readFileHead(this.opts.objects, first, { log: this.opts.log, stopped: () => this.stopped });
        const list = head.gtidList ?? [];
        if (fileHoldsStart(connect, list)) {
          chosen = i;
          remaining = startAfterFile(connect, list);
          found = true;
          break;
        }
      }
      if (!found) {
        throw new DumpFailure(
          segments[0]!.chunks[0]!.key,
          'Could not find GTID state requested by slave in any binlog files. Probably the slave state is too old and required binlog files have been purged.',
        );
      }
    }
    this.filter = new GtidFilter(remaining, this.opts.session.until, this.opts.stopAt, connect);
    return chosen;
  }

  private queue(refs: ChunkRef[]): void {
    if (refs.length === 0) return;
    this.opts.reader.append(refs);
    this.lastQueued = refs[refs.length - 1];
  }

  /** At the end of what was queued: with `follow`, waits for new chunks; false when there are none to come. */
  private async waitForMore(): Promise<boolean> {
    const problem = this.timeline.problems[0];
    if (problem) throw new DumpFailure(problem.object, problem.message);
    if (!this.opts.follow) return false;
    const missing = this.filter.missingStart();
    if (missing) throw new DumpFailure(`gtid ${formatMariaGtid(missing.gtid)}`, missing.message);
    for (;;) {
      if (this.stopped || this.opts.sink.isClosed) return false;
      await this.pause(this.opts.followPollMs);
      const timeline = await this.opts.loadTimeline();
      const refs = timeline.segments.flatMap((s) => s.chunks);
      const at = this.lastQueued ? refs.findIndex((r) => r.key === this.lastQueued!.key) : -1;
      if (this.lastQueued && at < 0) {
        throw new DumpFailure(this.lastQueued.key, 'the timeline no longer contains the last chunk sent (was the cluster restored or pruned meanwhile?)');
      }
      this.timeline = timeline;
      const fresh = refs.slice(at + 1);
      if (fresh.length > 0) {
        this.queue(fresh);
        return true;
      }
      if (timeline.problems[0]) throw new DumpFailure(timeline.problems[0].object, timeline.problems[0].message);
    }
  }

  /** The end of the binlog as promised (or the fake primary's stop position). */
  private async atEnd(): Promise<DumpResult['outcome']> {
    const problem = this.timeline.problems[0];
    if (problem) throw new DumpFailure(problem.object, problem.message);
    const missing = this.filter.missingStart();
    if (missing) throw new DumpFailure(`gtid ${formatMariaGtid(missing.gtid)}`, missing.message);
    const short = this.filter.stopUnreached;
    if (short.length > 0 && !this.opts.follow) {
      // a replay told to stop at a position the promised binlog does not reach must not wait forever
      throw new DumpFailure(`gtid ${short.map(formatMariaGtid).join(',')}`, `the promised binlog ends at ${this.currentFile}:${this.currentPos} before the stop position (${short.map(formatMariaGtid).join(',')} not reached)`);
    }
    return this.idle();
  }

  /** Nothing more will be sent: EOF for a non-blocking dump, else heartbeats until the replica goes. */
  private async idle(): Promise<DumpResult['outcome']> {
    const sink = this.opts.sink;
    if (this.nonBlocking) {
      sink.packet(buildEof());
      await sink.flush();
      return 'eof';
    }
    while (!this.stopped && !sink.isClosed) await this.pause(60_000);
    return 'replica-gone';
  }

  /** Waits `ms`, sending heartbeats when the replica asked for them; returns early when it goes. */
  private async pause(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    const sink = this.opts.sink;
    while (!this.stopped && !sink.isClosed && Date.now() < deadline) {
      const period = this.opts.session.heartbeatPeriodMs;
      const untilBeat = period > 0 ? sink.lastWriteMs + period - Date.now() : Infinity;
      if (untilBeat <= 0) {
        this.beat();
        await sink.flush();
        continue;
      }
      await Promise.race([sleep(Math.min(untilBeat, deadline - Date.now(), 1000)), sink.whenClosed()]);
    }
  }

  private beat(): void {
    if (this.currentFile === '') return; // nothing sent yet: the replica knows no file
    this.opts.sink.event(heartbeat(this.currentFile, this.currentPos, this.opts.serverId, this.checksum ?? 'NONE'));
  }

  /** Awaits `work`, sending heartbeats meanwhile (an object-store read can take longer than the period). */
  private async withHeartbeats<T>(work: Promise<T>): Promise<T> {
    const period = this.opts.session.heartbeatPeriodMs;
    if (period <= 0) return work;
    let done = false;
    const result = work.finally(() => {
      done = true;
    });
    for (;;) {
      const untilBeat = Math.max(1, this.opts.sink.lastWriteMs + period - Date.now());
      const timer = sleep(Math.min(untilBeat, 1000)).then(() => undefined);
      await Promise.race([result.then(() => undefined, () => undefined), timer]);
      if (done) return result;
      if (Date.now() >= this.opts.sink.lastWriteMs + period) {
        await this.opts.sink.flush(); // packets queued before the wait go first
        this.beat();
        await this.opts.sink.flush();
      }
    }
  }
}
