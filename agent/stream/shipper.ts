import { ChunkConflictError, ObjectExistsError, StopCutShortError, UnavailableError } from '../errors.js';
import { chunkKey } from '../keys.js';
import type { Logger } from '../log.js';
import type { ObjectStore } from '../ports/object-store.js';
import { sha256Hex } from '../store/bytes.js';
import { retrying, whenAborted, type Backoff } from '../retry.js';
import type { BodyPool } from './body-pool.js';
import type { Chunk } from './chunker.js';
import type { ClusterStateRepo, DurablePosition } from '../cluster/repo.js';
import { ChunkBodyProblem, chunkBytes, type ChunkEncoding } from '../store/chunk-body.js';

export interface ShipperOptions {
  objects: ObjectStore;
  state: ClusterStateRepo;
  prefix: string;
  clusterId: string;
  epoch: number;
  holder: string;
  /** The durable seq to continue from (the state item's `durableSeq`). */
  durableSeq: number;
  /** The durable position to continue from, if any (carries the last GTID forward). */
  durable?: DurablePosition | null;
  /** Uploads running at once. */
  maxInFlight: number;
  /** Bytes of chunks held (uploading or waiting their turn) before `submit` waits. */
  maxHeldBytes: number;
  log: Logger;
  backoff?: Backoff;
  now?: () => number;
  /** Told each time the durable position moves. */
  onDurable?: (position: DurablePosition, chunk: Chunk) => void;
  /** Told once, at once, when an upload or an advance fails for good (a fenced epoch, a conflict). */
  onFatal?: (err: unknown) => void;
  /** Aborts when a stop gives up: retries end, and `submit` and `drain` stop waiting. */
  giveUp?: AbortSignal;
  /**
   * How chunks held in memory are stored (`chunkEncoder` makes `encode`); a spilled transaction is
   * stored as it is. @default none
   */
  encoding?: { name: ChunkEncoding; encode: (bytes: Buffer) => Buffer };
  /** Where chunk bodies came from: each is given back once its chunk is durable. */
  bodies?: BodyPool;
}

/** A chunk handed to the shipper that is not (known to be) durable. */
export interface UnstoredChunk {
  seq: number;
  key: string;
  file: string;
  start: number;
  end: number;
  /** The object is in the store, but the durable position was not moved over it. */
  uploaded: boolean;
}

interface Pending {
  seq: number;
  key: string;
  chunk: Chunk;
  uploaded: Promise<void>;
  /** Set once `uploaded` has resolved. */
  done: boolean;
}

/** Bytes a chunk holds in memory (a spilled one is on disk). */
function memoryBytes(chunk: Chunk): number {
  return chunk.body?.length ?? 0;
}

/** Longer GTID positions are left out of a chunk's metadata (S3 allows 2 KiB of user metadata in all). */
const GTID_POS_METADATA_MAX = 1024;

/** The metadata every chunk object carries (DESIGN.md, interface contract), plus `gtid-pos` and `server-ids`. */
export function chunkMetadata(chunk: Chunk, sha256: string, encoding: ChunkEncoding = 'none'): Record<string, string> {
  return {
    sha256,
    file: chunk.file,
    start: String(chunk.start),
    end: String(chunk.end),
    'first-gtid': chunk.firstGtid,
    'last-gtid': chunk.lastGtid,
    'first-ts': String(chunk.firstTs),
    'last-ts': String(chunk.lastTs),
    encoding,
    // the whole GTID position at `end`: a restore plan reads every domain's progress from it
    ...(chunk.gtidPos.length <= GTID_POS_METADATA_MAX ? { 'gtid-pos': chunk.gtidPos } : {}),
    // who wrote the events: a restored replica must not share a server_id with any of them
    'server-ids': chunk.serverIds.join(','),
  };
}

/**
 * Writes chunks to the object store and, only after each is stored, advances the durable position
 * to it. Uploads overlap (up to `maxInFlight`); the position advances strictly in seq order.
 * Transient failures are retried with backoff, forever, while memory stays bounded: `submit` waits
 * while more than `maxHeldBytes` are held. A conflict, a fenced epoch or a lost lease is fatal:
 * every later call rejects with it. `fence` ends it at once: nothing more is uploaded or advanced.
 */
export class Shipper {
  private nextSeq: number;
  private queue: Pending[] = [];
  private heldBytes = 0;
  private inFlight = 0;
  private fatal: unknown;
  private advancing: Promise<void> = Promise.resolve();
  private waiters: (() => void)[] = [];
  private stopped = false;
  private last: DurablePosition | undefined;
  /** The seq the durable position holds (as this shipper last wrote it). */
  private advancedSeq: number;
  /** A position write not yet answered (it may have landed). */
  private writing: DurablePosition | undefined;
  /** Aborted by `fence`: ends retries and the waits of `submit` and `drain`. */
  private readonly halted = new AbortController();
  /** Ends retries: a stop that gave up, or a fence. */
  private readonly retrySignal: AbortSignal;

  constructor(private readonly opts: ShipperOptions) {
    this.nextSeq = opts.durableSeq + 1;
    this.advancedSeq = opts.durableSeq;
    this.last = opts.durable ?? undefined;
    opts.giveUp?.addEventListener('abort', () => this.wake(), { once: true });
    this.retrySignal = opts.giveUp ? AbortSignal.any([opts.giveUp, this.halted.signal]) : this.halted.signal;
  }

  /** True once `fence` was called. */
  get fenced(): boolean {
    return this.halted.signal.aborted;
  }

  /**
   * The epoch is fenced: upload and advance nothing more, from now on. Drops every chunk held (a
   * spilled one's file too), ends retries, and makes `submit`, `drain` and every advance reject
   * with `reason` at once. An upload already on the wire is not waited for: the caller aborts its
   * request (the object store's client shares an abort signal with the fence, agent/wiring.ts).
   * Returns what was dropped. Idempotent.
   */
  fence(reason: unknown): UnstoredChunk[] {
    const dropped = this.unstored();
    if (this.fenced) return dropped;
    this.fatal ??= reason;
    this.stopped = true;
    this.halted.abort(reason);
    for (const p of this.queue) p.chunk.spilled?.remove();
    this.queue = [];
    this.heldBytes = 0;
    this.wake();
    return dropped;
  }

  private gaveUp(): StopCutShortError | undefined {
    const signal = this.opts.giveUp;
    if (!signal?.aborted) return undefined;
    return signal.reason instanceof StopCutShortError ? signal.reason : new StopCutShortError('the stop was given up');
  }

  /** What was submitted and is not durable, in seq order (for the log of a stop cut short). */
  unstored(): UnstoredChunk[] {
    return this.queue.map((p) => ({ seq: p.seq, key: p.key, file: p.chunk.file, start: p.chunk.start, end: p.chunk.end, uploaded: p.done }));
  }

  get held(): number {
    return this.heldBytes;
  }

  get durable(): DurablePosition | undefined {
    return this.last;
  }

  /** The position write in flight, if any: when a stop gives up, it may or may not have landed. */
  get positionInFlight(): DurablePosition | undefined {
    return this.writing;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    w.forEach((f) => f());
  }

  private throwIfFatal(): void {
    if (this.fatal !== undefined) throw this.fatal;
  }

  private throwIfFenced(): void {
    if (this.fenced) throw this.fatal;
  }

  /** Queues a chunk; resolves once it is accepted (not yet durable). */
  async submit(chunk: Chunk): Promise<void> {
    this.throwIfFatal();
    const held = memoryBytes(chunk);
    while ((this.heldBytes > 0 && this.heldBytes + held > this.opts.maxHeldBytes) || this.inFlight >= this.opts.maxInFlight) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
      this.throwIfFatal();
      const gaveUp = this.gaveUp();
      if (gaveUp) throw gaveUp;
    }
    const seq = this.nextSeq++;
    const key = chunkKey(this.opts.prefix, this.opts.clusterId, { epoch: this.opts.epoch, seq, file: chunk.file, start: chunk.start, end: chunk.end });
    this.heldBytes += held;
    this.inFlight++;
    const uploaded = this.upload(key, chunk).finally(() => {
      this.inFlight--;
      this.wake();
    });
    uploaded.catch(() => undefined); // observed through the advance chain
    const pending: Pending = { seq, key, chunk, uploaded, done: false };
    uploaded.then(() => (pending.done = true), () => undefined);
    this.queue.push(pending);
    this.advancing = this.advancing.then(() => this.advanceTo(pending)).catch((err) => {
      const first = this.fatal === undefined;
      this.fatal ??= err;
      this.wake();
      if (first) this.opts.onFatal?.(err);
    });
  }

  /**
   * Waits until every submitted chunk is durable; rejects with the fatal error if one occurred, or
   * with StopCutShortError once `giveUp` aborts with chunks still unstored (see `unstored`).
   */
  async drain(): Promise<void> {
    await Promise.race([this.advancing, whenAborted(this.opts.giveUp), whenAborted(this.halted.signal)]);
    const gaveUp = this.gaveUp();
    if (gaveUp && this.queue.length > 0) throw gaveUp;
    this.throwIfFatal();
  }

  /** Stops retrying; in-flight work ends with its current attempt. */
  stop(): void {
    this.stopped = true;
  }

  private retryOpts(what: string) {
    return {
      ...(this.opts.backoff ? { policy: this.opts.backoff } : {}),
      stopped: () => this.stopped,
      signal: this.retrySignal,
      onRetry: (err: unknown, attempt: number, delayMs: number) =>
        this.opts.log.warn(
          { err: (err as Error).message, attempt, delayMs, heldBytes: this.heldBytes, queuedChunks: this.queue.length, lagSeconds: this.lagSeconds() },
          `${what} failed; retrying`,
        ),
    };
  }

  /** Seconds between now and the oldest event not yet durable. */
  lagSeconds(): number {
    const oldest = this.queue[0]?.chunk.firstTs;
    const now = (this.opts.now ?? Date.now)();
    return oldest === undefined ? 0 : Math.max(0, now / 1000 - oldest);
  }

  private async upload(key: string, chunk: Chunk): Promise<void> {
    const encoding = chunk.spilled ? undefined : this.opts.encoding;
    const body = chunk.spilled ? undefined : (encoding?.encode(chunk.body!) ?? chunk.body!);
    const sha256 = chunk.spilled ? chunk.spilled.sha256 : sha256Hex(body!);
    const metadata = chunkMetadata(chunk, sha256, encoding?.name);
    if (chunk.spilled?.staged && (await this.placeStaged(key, chunk, sha256))) return;
    await retrying(async () => {
      this.throwIfFenced();
      try {
        if (chunk.spilled) {
          // a spilled transaction streams from disk, by multipart when large
          const stored = await this.opts.objects.putStreamIfAbsent(key, chunk.spilled.open(), metadata);
          if (stored.sha256 !== sha256) throw new ChunkConflictError(key, stored.sha256, sha256);
        } else {
          await this.opts.objects.putIfAbsent(key, body!, sha256, metadata);
        }
      } catch (err) {
        if (!(err instanceof ObjectExistsError)) throw err;
        // a retry after a put that landed, or a restart that re-cut the same chunk
        const stored = await this.opts.objects.head(key);
        if (!stored) throw new UnavailableError('object store', `${key} exists but cannot be read`, { cause: err });
        if (stored.metadata.sha256 !== sha256 && !(await this.storedAs(key, chunk, stored.metadata.encoding))) {
          throw new ChunkConflictError(key, stored.metadata.sha256 ?? '', sha256, { cause: err });
        }
        this.opts.log.warn({ key }, 'chunk already stored with the same bytes; continuing');
      }
    }, this.retryOpts(`upload ${key}`));
  }

  /**
   * Whether the object at `key`, stored with another encoding than this shipper's (an agent that
   * ran with another `chunkEncoding` cut the same chunk before a restart), holds `chunk`'s bytes.
   */
  private async storedAs(key: string, chunk: Chunk, storedEncoding: string | undefined): Promise<boolean> {
    if (chunk.spilled || (storedEncoding ?? 'none') === (this.opts.encoding?.name ?? 'none')) return false;
    const stored = await this.opts.objects.get(key);
    if (!stored) return false;
    try {
      return chunkBytes(stored, chunk.end - chunk.start).equals(chunk.body!);
    } catch (err) {
      if (err instanceof ChunkBodyProblem) return false;
      throw err;
    }
  }

  /**
   * A spilled transaction was uploaded to a staging object while it streamed: copy it into place
   * (write-once, with the chunk's metadata) and drop the staging object. False when the staging
   * upload failed or differs, or the transaction is larger than the store copies (S3: 5 GiB):
   * the caller then uploads from the spill file.
   */
  private async placeStaged(key: string, chunk: Chunk, sha256: string): Promise<boolean> {
    const copyLimitBytes = this.opts.objects.copyLimitBytes;
    if (copyLimitBytes !== undefined && chunk.sizeBytes > copyLimitBytes) {
      // the staging upload stops at the limit (fileSpill's stageLimitBytes); drop what it left
      const abandoned = await chunk.spilled!.staged!.catch(() => undefined);
      if (abandoned) await this.opts.objects.delete(abandoned.key).catch(() => undefined);
      this.opts.log.info({ key, sizeBytes: chunk.sizeBytes, copyLimitBytes }, 'transaction over the copy limit; uploading it from the spill file');
      return false;
    }
    const staged = await chunk.spilled!.staged!.catch((err: unknown) => {
      this.opts.log.warn({ key, err: (err as Error).message }, 'upload during the transaction failed; uploading from the spill file');
      return undefined;
    });
    if (!staged || staged.sha256 !== sha256 || staged.sizeBytes !== chunk.sizeBytes) return false;
    await retrying(async () => {
      this.throwIfFenced();
      try {
        await this.opts.objects.copyIfAbsent(staged.key, key, chunkMetadata(chunk, sha256));
      } catch (err) {
        if (!(err instanceof ObjectExistsError)) throw err;
        const stored = await this.opts.objects.head(key);
        if (stored?.metadata.sha256 !== sha256) throw new ChunkConflictError(key, stored?.metadata.sha256 ?? '', sha256, { cause: err });
      }
    }, this.retryOpts(`copy ${staged.key} to ${key}`));
    await this.opts.objects.delete(staged.key).catch(() => undefined);
    return true;
  }

  /**
   * Makes `p` durable, together with every later chunk whose upload has already finished: one
   * conditional write covers them all (from the last durable seq to the newest contiguous one),
   * so a slow state store does not hold the stream back one write per chunk.
   */
  private async advanceTo(p: Pending): Promise<void> {
    this.throwIfFatal();
    if (this.last && this.last.epoch === this.opts.epoch && p.seq <= this.advancedSeq) return; // covered by an earlier batch
    await p.uploaded;
    // an upload that finished after the fence is not advanced over (the advance would be refused anyway)
    this.throwIfFatal();
    let upTo = 0;
    while (upTo + 1 < this.queue.length && this.queue[upTo + 1]!.done) upTo++;
    const newest = this.queue[upTo]!;
    // the position at the newest chunk's end covers every domain the earlier ones moved
    const gtid = newest.chunk.gtidPos || this.last?.gtid || '';
    const position: DurablePosition = {
      epoch: this.opts.epoch,
      seq: newest.seq,
      file: newest.chunk.file,
      end: newest.chunk.end,
      gtid,
      key: newest.key,
      at: new Date((this.opts.now ?? Date.now)()).toISOString(),
    };
    const previousSeq = this.advancedSeq;
    this.writing = position;
    // the write may have landed before an UnavailableError: advance recognises its own write, so
    // repeating it is safe
    await retrying(() => this.opts.state.advance(this.opts.holder, position, previousSeq), this.retryOpts(`advance durable position to ${newest.key}`));
    this.writing = undefined;
    this.throwIfFenced(); // the queue was dropped meanwhile
    this.last = position;
    this.advancedSeq = position.seq;
    for (const done of this.queue.splice(0, upTo + 1)) {
      this.heldBytes -= memoryBytes(done.chunk);
      done.chunk.spilled?.remove();
      this.opts.onDurable?.(position, done.chunk);
      // its upload has settled and nothing retries it: the body's buffer can carry the next chunk
      // (a fence drops the queue without this: an upload may still be reading those bodies)
      if (done.chunk.body && this.opts.bodies) {
        this.opts.bodies.give(done.chunk.body);
        delete done.chunk.body;
      }
    }
    this.wake();
  }
}
