/**
 * Whether a server continues an epoch's chain (DESIGN.md, "primary identity"): its binlog at the
 * durable position ends with the same bytes as the epoch's last durable chunk, and its GTID position
 * contains the durable one. An agent checks it before it streams an epoch, so that a server that
 * was reset, restored from elsewhere, or replaced at the same address never writes its own binlog
 * into an epoch whose chunks came from another.
 *
 * The comparison (`ChunkContinuation`, `gtidShortfall`) is pure; `checkLineage` reads the chunk
 * from the object store and the server's bytes through a binlog dump, and refuses with LineageError.
 */
import { createHash, type Hash } from 'node:crypto';
import { GtidPosition, gtidFlavour } from '../binlog/gtid-position.js';
import { EventType } from '../binlog/event-types.js';
import { formatMariaGtid } from '../protocol/gtid.js';
import { BinlogChainError, LineageError, ProtocolError, ServerError } from '../errors.js';
import { isRetryable } from '../retry.js';
import { parseChunkKey, type ChunkKey } from '../keys.js';
import type { BinlogSource, BinlogStream, StreamEvent } from '../ports/binlog-source.js';
import type { ObjectStore } from '../ports/object-store.js';
import type { ClusterState } from '../cluster/state.js';
import { ChunkBodyProblem, chunkBytes } from '../store/chunk-body.js';

/**
 * What of `durable` the server's GTID position `server` lacks, or undefined when it contains it:
 * MariaDB, every domain of `durable` present with a sequence number at least as high; MySQL, every
 * transaction of the set. Pure.
 */
export function gtidShortfall(server: string, durable: string): string | undefined {
  if (gtidFlavour(durable) === undefined) return undefined;
  if (gtidFlavour(server) !== gtidFlavour(durable) && gtidFlavour(server) !== undefined) {
    return `the server's GTID position ${server} is not of the flavour of the durable one ${durable}`;
  }
  if (gtidFlavour(durable) === 'mysql') {
    const union = new GtidPosition(server);
    union.merge(durable);
    return union.text === new GtidPosition(server).text ? undefined : `the server's executed GTID set ${server || '(empty)'} lacks part of the durable ${durable}`;
  }
  const have = new Map(new GtidPosition(server).domains.map((g) => [g.domainId, g]));
  const lacking = new GtidPosition(durable).domains.flatMap((want) => {
    const got = have.get(want.domainId);
    if (!got) return [`domain ${want.domainId}: the durable position is at ${formatMariaGtid(want)}, the server has no transaction of this domain`];
    if (got.seqNo < want.seqNo) return [`domain ${want.domainId}: the durable position is at ${formatMariaGtid(want)}, the server only at ${formatMariaGtid(got)}`];
    return [];
  });
  return lacking.length === 0 ? undefined : `the server's GTID position ${server || '(empty)'} does not contain the durable ${durable}: ${lacking.join('; ')}`;
}

/** The verdict on a server's bytes against a chunk: the same, or what differs. */
export type ContinuationVerdict = { same: true } | { same: false; difference: string };

/**
 * Compares the events of a binlog dump that begins at the chunk's start with the chunk's bytes,
 * event by event, placing each by its own offset (artificial events are not bytes of the file, as
 * in the streamer). Decides at the first difference, or once the chunk's end is reached. Pure.
 *
 * `expected` is the chunk's bytes, or, for a chunk too large to hold (one large transaction), the
 * SHA-256 of its bytes: the server's bytes are then hashed and compared at the end.
 */
export class ChunkContinuation {
  private pos: number;
  private readonly hash: Hash | undefined;

  constructor(
    private readonly expected: Buffer | { sha256: string },
    private readonly ref: Pick<ChunkKey, 'file' | 'start' | 'end'>,
  ) {
    this.pos = ref.start;
    this.hash = Buffer.isBuffer(expected) ? undefined : createHash('sha256');
  }

  /** Where the server's bytes compared so far end. */
  get reached(): number {
    return this.pos;
  }

  /** Takes the next event of the dump; undefined while more are needed. */
  push(ev: Pick<StreamEvent, 'file' | 'artificial' | 'type' | 'start' | 'end' | 'bytes'>): ContinuationVerdict | undefined {
    const { file, end } = this.ref;
    if (ev.artificial) {
      // the server sends a heartbeat once it has sent everything it has
      if (ev.type === EventType.HEARTBEAT || ev.type === EventType.HEARTBEAT_V2) return this.short(`the server's ${file} ends at byte ${this.pos}`);
      return undefined;
    }
    if (ev.file !== file) return this.short(`the server's ${file} ends at byte ${this.pos} (its binlog went on in ${ev.file})`);
    if (ev.start !== this.pos) return { same: false, difference: `the server has an event at ${file}:${ev.start}, where the chunk has one at ${this.pos}` };
    if (ev.end! > end) return { same: false, difference: `the server's event ${file}:${ev.start}-${ev.end} runs past the chunk's end at ${end}` };
    if (Buffer.isBuffer(this.expected)) {
      const at = this.pos - this.ref.start;
      const theirs = this.expected.subarray(at, at + ev.bytes.length);
      for (let i = 0; i < ev.bytes.length; i++) {
        if (ev.bytes[i] !== theirs[i]) {
          return { same: false, difference: `the server's byte at ${file}:${this.pos + i} differs from the chunk's (first difference; the server's event ${file}:${ev.start}-${ev.end})` };
        }
      }
    } else {
      this.hash!.update(ev.bytes);
    }
    this.pos = ev.end!;
    if (this.pos < end) return undefined;
    if (Buffer.isBuffer(this.expected)) return { same: true };
    const actual = this.hash!.digest('hex');
    return actual === this.expected.sha256 ? { same: true } : { same: false, difference: `the server's bytes ${file}:${this.ref.start}-${end} hash to sha-256 ${actual}, the chunk's are ${this.expected.sha256}` };
  }

  private short(what: string): ContinuationVerdict {
    return { same: false, difference: `${what}, before the chunk's end at ${this.ref.end}` };
  }
}

/**
 * Chunks up to this size are read and compared byte by byte; a larger one (a single large
 * transaction, which may be gigabytes) is compared by the SHA-256 of its bytes, never held whole.
 */
export const lineageCompareMaxBytes = 64 * 1024 * 1024;

/**
 * What the server's bytes must be: the chunk's bytes, fetched and checked against its SHA-256
 * metadata and its key's length; or, for a chunk larger than `lineageCompareMaxBytes` stored
 * uncompressed, the SHA-256 its metadata records (of exactly those bytes).
 */
async function expectedBytes(objects: ObjectStore, key: string, ref: ChunkKey): Promise<Buffer | { sha256: string }> {
  if (ref.end - ref.start > lineageCompareMaxBytes) {
    const info = await objects.head(key);
    if (!info) throw new BinlogChainError(key, 'the durable position names this chunk, but it is not in the object store');
    const sha256 = info.metadata.sha256;
    if (sha256 && (info.metadata.encoding ?? 'none') === 'none' && info.sizeBytes === ref.end - ref.start) return { sha256 };
  }
  return readChunk(objects, key, ref);
}

/** Fetches a chunk and checks it against its SHA-256 metadata and its key's length; returns its event bytes. */
async function readChunk(objects: ObjectStore, key: string, ref: ChunkKey): Promise<Buffer> {
  const stored = await objects.get(key);
  if (!stored) throw new BinlogChainError(key, 'the durable position names this chunk, but it is not in the object store');
  try {
    return chunkBytes(stored, ref.end - ref.start);
  } catch (err) {
    if (err instanceof ChunkBodyProblem) throw new BinlogChainError(key, err.message, { cause: err });
    throw err;
  }
}

export interface LineageDeps {
  source: BinlogSource;
  objects: ObjectStore;
  clusterId: string;
  /** The server, as the error names it. */
  server: string;
  /** Told the dump the check opens (and undefined once it is closed), so a stop can close it. */
  onStream?: (stream: BinlogStream | undefined) => void;
}

/**
 * Refuses with LineageError unless the server continues `state`'s chain:
 * - when the current epoch has a durable chunk, the server's binlog from that chunk's start to the
 *   durable end is the chunk's bytes;
 * - the server's GTID position (where that chunk ends; for a freshly claimed epoch, its current one)
 *   contains the durable one (for a freshly claimed epoch, the previous epoch's end: the handover).
 * A missing or damaged durable chunk is BinlogChainError. A dump closed before the verdict (a stop)
 * throws a plain Error; transient failures are the source's (retryable) errors.
 */
export async function checkLineage(deps: LineageDeps, state: Pick<ClusterState, 'epoch' | 'durable'>): Promise<void> {
  const durable = state.durable;
  if (!durable) return;
  const refuse = (object: string, difference: string) => new LineageError(deps.clusterId, state.epoch, deps.server, object, difference);
  let gtid: string | undefined;
  if (durable.epoch === state.epoch) {
    const ref = parseChunkKey(durable.key);
    if (!ref) throw new BinlogChainError(durable.key, 'the durable position names an object that is not a chunk key');
    // Nothing here reads the binlog under the server's binlog lock (SHOW BINARY LOGS, SHOW MASTER
    // STATUS): in lossless mode a group commit holds that lock while it waits for this agent's
    // semi-sync reply, so an agent restarted under concurrent commits would wait on itself. The
    // dump refuses a file the server does not have (error 1236) and stops short of a shorter one;
    // the GTID position is read where the chunk ends (BINLOG_GTID_POS takes no such lock).
    const verdict = await compareWithServer(deps, await expectedBytes(deps.objects, durable.key, ref), ref);
    if (!verdict.same) throw refuse(durable.key, verdict.difference);
    gtid = await deps.source.gtidPositionAt({ file: ref.file, pos: ref.end });
  }
  // a freshly claimed epoch (the durable position is the handover), or MySQL (no BINLOG_GTID_POS)
  gtid ??= (await deps.source.currentPosition()).gtid;
  const lacking = gtidShortfall(gtid, durable.gtid);
  if (lacking) throw refuse(`gtid ${durable.gtid} (durable position, epoch ${durable.epoch} seq ${durable.seq})`, lacking);
}

/** Reads the server's binlog from the chunk's start through a dump until the verdict. */
async function compareWithServer(deps: LineageDeps, expected: Buffer | { sha256: string }, ref: ChunkKey): Promise<ContinuationVerdict> {
  const continuation = new ChunkContinuation(expected, ref);
  // the server refuses a dump from an offset where none of its events begins (error 1236), and a
  // dump read from there fails its checks: either way its binlog is not the chunk's
  const refused = (err: unknown): ContinuationVerdict => {
    if (isRetryable(err)) throw err;
    return { same: false, difference: `the server cannot send its binlog from ${ref.file}:${ref.start} as the chunk has it (${(err as Error).message})` };
  };
  const stream = await deps.source.stream({ file: ref.file, pos: ref.start }).catch((err: unknown) => {
    if (err instanceof ServerError || err instanceof ProtocolError) return refused(err);
    throw err;
  });
  if ('same' in stream) return stream;
  deps.onStream?.(stream);
  try {
    for await (const ev of stream) {
      const verdict = continuation.push(ev);
      if (verdict) return verdict;
    }
    throw new Error(`the binlog dump from ${ref.file}:${ref.start} ended at ${continuation.reached}, before the chunk's end at ${ref.end}`);
  } catch (err) {
    if (err instanceof ServerError || err instanceof ProtocolError) return refused(err);
    throw err;
  } finally {
    deps.onStream?.(undefined);
    await stream.close().catch(() => undefined);
  }
}
