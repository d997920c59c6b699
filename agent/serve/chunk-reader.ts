/**
 * Reads chunks for the fake primary, in stream order, with a bounded read-ahead so that sending
 * does not wait on object-store round trips, and checks every byte before it is handed out: the
 * body's SHA-256 against the object's metadata, its length against the key, and every event's
 * CRC32 (events are framed across the chunks of a file with the file's own format). A failure is a
 * BinlogChainError naming the object; nothing of a chunk is handed out unless all of it passed.
 *
 * Memory: at most `readAheadChunks` chunks, and about `readAheadBytes` (a single larger chunk is
 * still fetched, alone), are held besides the one being sent.
 */
import { Readable } from 'node:stream';
import { INITIAL_FORMAT, type BinlogFormat } from '../binlog/binlog-format.js';
import { BinlogParser } from '../binlog/event-parser.js';
import { EventType } from '../binlog/event-types.js';
import { decodeMariaGtidList } from '../binlog/maria-gtid-list.js';
import type { RawEvent } from '../binlog/raw-event.js';
import { BinlogChainError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ObjectStore } from '../ports/object-store.js';
import type { MariaGtid } from '../protocol/gtid.js';
import { retrying } from '../retry.js';
import type { ChunkRef } from '../stream/chain.js';
import { ChunkBodyProblem, chunkBytes } from '../store/chunk-body.js';

export interface ChunkEvents {
  ref: ChunkRef;
  /** The chunk's events, CRC32-checked, at their file offsets. */
  events: RawEvent[];
  /** Stored size (before decompression). */
  sizeBytes: number;
}

export interface ChunkReaderOptions {
  /** Chunks fetched ahead of the one being sent. @default 8 */
  readAheadChunks?: number;
  /** Bytes fetched ahead. @default 64 MiB */
  readAheadBytes?: number;
  log: Logger;
  /** Stops retrying transient object-store failures once true (the session ended). */
  stopped?: () => boolean;
}

interface Fetch {
  ref: ChunkRef;
  sizeBytes: number;
  body: Promise<{ body: Buffer; storedBytes: number }>;
}

/** Fetches, decompresses and SHA-256-checks one chunk. */
async function fetchChunk(objects: ObjectStore, ref: ChunkRef, opts: ChunkReaderOptions): Promise<{ body: Buffer; storedBytes: number }> {
  const t0 = Date.now();
  const stored = await retrying(() => objects.get(ref.key), {
    stopped: opts.stopped,
    onRetry: (err, attempt, delayMs) => opts.log.warn({ key: ref.key, attempt, delayMs, err: String(err) }, 'read chunk: retrying'),
  });
  if (!stored) throw new BinlogChainError(ref.key, 'the chunk is in the chain but not in the object store');
  try {
    const body = chunkBytes(stored, ref.end - ref.start);
    opts.log.debug({ key: ref.key, storedBytes: stored.body.length, ms: Date.now() - t0 }, 'chunk read');
    return { body, storedBytes: stored.body.length };
  } catch (err) {
    if (err instanceof ChunkBodyProblem) throw new BinlogChainError(ref.key, err.message, { cause: err });
    throw err;
  }
}

export class ChunkReader {
  private readonly waiting: ChunkRef[] = [];
  private readonly fetching: Fetch[] = [];
  private fetchingBytes = 0;
  private format: BinlogFormat = INITIAL_FORMAT;
  private segment = '';
  private readonly readAheadChunks: number;
  private readonly readAheadBytes: number;

  constructor(
    private readonly objects: ObjectStore,
    private readonly opts: ChunkReaderOptions,
  ) {
    this.readAheadChunks = Math.max(1, opts.readAheadChunks ?? 8);
    this.readAheadBytes = opts.readAheadBytes ?? 64 * 1024 * 1024;
  }

  /** Chunks queued or being fetched, not yet handed out. */
  get queued(): number {
    return this.waiting.length + this.fetching.length;
  }

  /** Appends chunks (in stream order, after those already appended) and starts fetching. */
  append(refs: readonly ChunkRef[]): void {
    this.waiting.push(...refs);
    this.fill();
  }

  private fill(): void {
    while (this.waiting.length > 0 && this.fetching.length < this.readAheadChunks) {
      const ref = this.waiting[0]!;
      const size = ref.end - ref.start;
      if (this.fetching.length > 0 && this.fetchingBytes + size > this.readAheadBytes) break;
      this.waiting.shift();
      const body = fetchChunk(this.objects, ref, this.opts);
      body.catch(() => undefined); // reported when the chunk's turn comes
      this.fetching.push({ ref, sizeBytes: size, body });
      this.fetchingBytes += size;
    }
  }

  /** The next chunk's checked events; rejects with BinlogChainError naming the object. */
  async next(): Promise<ChunkEvents> {
    const head = this.fetching.shift();
    if (!head) throw new Error('ChunkReader.next() with nothing queued');
    this.fetchingBytes -= head.sizeBytes;
    this.fill();
    const { body, storedBytes } = await head.body;
    this.fill();
    return { ref: head.ref, events: this.parse(head.ref, body), sizeBytes: storedBytes };
  }

  /** Frames and CRC-checks a chunk's events, with the format its file's FORMAT_DESCRIPTION set. */
  private parse(ref: ChunkRef, body: Buffer): RawEvent[] {
    const segment = `${ref.epoch}/${ref.file}`;
    if (segment !== this.segment || ref.start === 4) {
      this.segment = segment;
      // a file's first chunk carries its FORMAT_DESCRIPTION; a timeline that begins mid-file is
      // read with the CRC32 checksums the agent requires of the server
      this.format = { ...INITIAL_FORMAT, checksum: ref.start === 4 ? 'n/a' : 'CRC32' };
    }
    const parser = new BinlogParser({ magic: false, startOffset: ref.start, format: this.format, source: ref.key });
    let events: RawEvent[];
    try {
      events = parser.feed(body);
      if (parser.pendingBytes > 0) throw new BinlogChainError(ref.key, `the chunk ends inside an event (${parser.pendingBytes} bytes of it)`);
    } catch (err) {
      if (err instanceof BinlogChainError) throw err;
      throw new BinlogChainError(ref.key, err instanceof Error ? err.message : String(err), { cause: err });
    }
    this.format = parser.format;
    return events;
  }
}

/** What the start of a binlog file says: its FORMAT_DESCRIPTION and GTID_LIST. */
export interface FileHead {
  formatDescription: Buffer;
  /** Undefined when the file has no GTID_LIST (not MariaDB, or binlog from before 10.0). */
  gtidList: MariaGtid[] | undefined;
}

/**
 * Reads only the first events of a file's first chunk (`ref.start` must be 4) to learn its
 * FORMAT_DESCRIPTION and GTID_LIST, without fetching the whole chunk: the fake primary looks at
 * several files to find where a GTID start position lies. CRC32-checked; the chunk's SHA-256 is
 * checked when it is read whole for sending.
 */
export async function readFileHead(objects: ObjectStore, ref: ChunkRef, opts: Pick<ChunkReaderOptions, 'log' | 'stopped'>): Promise<FileHead> {
  const info = await retrying(() => objects.head(ref.key), { stopped: opts.stopped });
  if (!info) throw new BinlogChainError(ref.key, 'the chunk is in the chain but not in the object store');
  // a compressed chunk is one zstd frame: read whole (chunks are small; a large one is stored as it is)
  const stream = (info.metadata.encoding ?? 'none') === 'none' ? await retrying(() => objects.getStream(ref.key), { stopped: opts.stopped }) : Readable.from([(await fetchChunk(objects, ref, opts)).body]);
  if (!stream) throw new BinlogChainError(ref.key, 'the chunk is in the chain but not in the object store');
  const parser = new BinlogParser({ magic: false, startOffset: ref.start, source: ref.key });
  let formatDescription: Buffer | undefined;
  try {
    for await (const piece of stream) {
      for (const ev of parser.feed(Buffer.isBuffer(piece) ? piece : Buffer.from(piece as Uint8Array))) {
        if (ev.header.typeCode === EventType.FORMAT_DESCRIPTION) {
          formatDescription = Buffer.from(ev.bytes);
          continue;
        }
        if (ev.header.typeCode === EventType.MARIA_GTID_LIST) {
          const list = decodeMariaGtidList(ev).gtids.map((g) => ({ domainId: g.domainId, serverId: g.serverId, seqNo: Number(g.seqNo) }));
          if (formatDescription) return { formatDescription, gtidList: list };
        }
        if (ev.header.typeCode !== EventType.MARIA_START_ENCRYPTION && ev.header.typeCode !== EventType.MARIA_BINLOG_CHECKPOINT) {
          if (formatDescription) return { formatDescription, gtidList: undefined };
          throw new BinlogChainError(ref.key, 'the file does not begin with a FORMAT_DESCRIPTION event');
        }
      }
    }
  } catch (err) {
    if (err instanceof BinlogChainError) throw err;
    throw new BinlogChainError(ref.key, err instanceof Error ? err.message : String(err), { cause: err });
  } finally {
    stream.destroy();
  }
  if (formatDescription) return { formatDescription, gtidList: undefined };
  throw new BinlogChainError(ref.key, 'the chunk holds no FORMAT_DESCRIPTION event');
}
