/**
 * The replay's chunks, read ahead while the restore is still busy with the base backup. A restore
 * fetches the backup, prepares it (`mariabackup --prepare`, one core busy) and only then replays
 * the chunks; read then, the chunks' GETs, and the local S3 stand-in serving them, take cores from
 * the replica's appliers. Started when the backup's download ends, the prefetch reads the plan's
 * chunks in replay order during the prepare and holds them in memory, so the fake primary's reads
 * are answered from memory and the appliers have the machine to themselves.
 *
 * A decorator over the object store the fake primary reads: `get` of a held key hands the body
 * over (and forgets it), every other call goes to the store. At most `budgetBytes` of bodies are
 * held (a single larger one alone); past the budget the prefetch goes on as bodies are handed
 * over, a read-ahead of that size. Nothing is checked here: the chunk reader checks every body's
 * SHA-256 and events as before. A failed prefetch is not an error: the body is read again, with
 * the caller's retries, when it is asked for.
 */
import type { Logger } from '../log.js';
import { ForwardingObjectStore, type ObjectStore, type StoredObject } from '../ports/object-store.js';

/** Default budget: 1/16 of the machine's memory, at most 1 GiB (the buffer pool takes up to 60%). */
export function prefetchBudgetBytes(memoryBytes: number): number {
  return Math.min(2 ** 30, Math.floor(memoryBytes / 16));
}

export interface PrefetchItem {
  key: string;
  sizeBytes: number;
}

interface Held {
  order: number;
  sizeBytes: number;
  body: Promise<StoredObject | undefined>;
}

export interface PrefetchStats {
  /** Bodies fetched ahead. */
  fetched: number;
  /** Reads answered from them. */
  hits: number;
  /** Reads of listed keys that went to the store (not yet fetched, or the prefetch failed). */
  misses: number;
  bytes: number;
}

export class PrefetchingObjectStore extends ForwardingObjectStore {
  private readonly queue: (PrefetchItem & { order: number })[] = [];
  private readonly held = new Map<string, Held>();
  private readonly orderOf = new Map<string, number>();
  private heldBytes = 0;
  private inFlight = 0;
  private closed = false;
  readonly stats: PrefetchStats = { fetched: 0, hits: 0, misses: 0, bytes: 0 };

  constructor(
    inner: ObjectStore,
    private readonly opts: { budgetBytes: number; log: Logger; concurrency?: number },
  ) {
    super(inner);
  }

  /** Starts reading `items` in this order (the order they will be asked for), after any listed before; a key listed before is skipped. */
  prefetch(items: readonly PrefetchItem[]): void {
    for (const item of items) {
      if (this.orderOf.has(item.key)) continue;
      const order = this.orderOf.size;
      this.orderOf.set(item.key, order);
      this.queue.push({ ...item, order });
    }
    this.pump();
  }

  /** Drops what is held and fetches nothing more. */
  close(): void {
    this.closed = true;
    this.queue.length = 0;
    this.held.clear();
    this.heldBytes = 0;
  }

  private pump(): void {
    const concurrency = this.opts.concurrency ?? 2;
    while (!this.closed && this.inFlight < concurrency && this.queue.length > 0) {
      const next = this.queue[0]!;
      if (this.held.size > 0 && this.heldBytes + next.sizeBytes > this.opts.budgetBytes) return;
      this.queue.shift();
      this.inFlight++;
      this.heldBytes += next.sizeBytes;
      const body = this.inner.get(next.key).finally(() => {
        this.inFlight--;
        this.pump();
      });
      body.then(
        (b) => {
          this.stats.fetched++;
          this.stats.bytes += b?.body.length ?? 0;
        },
        (err: unknown) => this.opts.log.debug({ key: next.key, err: String(err) }, 'chunk prefetch failed; read again when its turn comes'),
      );
      this.held.set(next.key, { order: next.order, sizeBytes: next.sizeBytes, body });
    }
  }

  /**
   * Forgets every listed key before `order`: the reader asks in the listed order, so it has passed
   * them (jumped over, or never needed) and the memory they hold is freed.
   */
  private passTo(order: number): void {
    while (this.queue.length > 0 && this.queue[0]!.order < order) this.queue.shift();
    for (const [key, h] of this.held) {
      if (h.order >= order) continue;
      this.held.delete(key);
      this.heldBytes -= h.sizeBytes;
    }
  }

  override async get(key: string): Promise<StoredObject | undefined> {
    const order = this.orderOf.get(key);
    if (order === undefined || this.closed) return this.inner.get(key);
    this.passTo(order);
    const held = this.held.get(key);
    if (!held) {
      // not fetched yet: read it now, and the prefetch goes on after it
      const at = this.queue.findIndex((q) => q.key === key);
      if (at >= 0) this.queue.splice(at, 1);
      this.stats.misses++;
      const body = this.inner.get(key); // asked for first, then the prefetch goes on
      this.pump();
      return body;
    }
    this.held.delete(key);
    try {
      const body = await held.body;
      this.stats.hits++;
      return body;
    } catch {
      this.stats.misses++;
      return this.inner.get(key);
    } finally {
      this.heldBytes -= held.sizeBytes;
      this.pump();
    }
  }
}
