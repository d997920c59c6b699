import type { Readable } from 'node:stream';

/** What a listing or a head returns about one object. */
export interface ObjectInfo {
  key: string;
  sizeBytes: number;
  /** User metadata, keys lowercase. Empty for listings (S3 does not return metadata there). */
  metadata: Record<string, string>;
}

export interface StoredObject extends ObjectInfo {
  body: Buffer;
}

export interface PutStreamOptions {
  /**
   * How many parts of a multipart upload may be on the wire at once. Each holds one part in
   * memory; more than one lets the body's producer go on while a part uploads. Stores that do
   * not upload in parts ignore it. @default 1
   */
  partsInFlight?: number;
}

/**
 * The object store squirrel writes chunks and base backups to (S3, a local directory, memory).
 *
 * Contract:
 * - Keys are `/`-separated strings; listing returns keys in lexicographic (byte) order.
 * - Writes are write-once: `putIfAbsent` and `putStreamIfAbsent` fail with ObjectExistsError when
 *   the key exists, and never overwrite. Nothing in squirrel modifies an object after writing it.
 * - `putIfAbsent` sends the body's SHA-256 with the request, so a body damaged in transit is
 *   refused by the store (S3: 400 BadDigest) rather than stored.
 * - Reads after a successful write see the object (S3 has been strongly consistent since 2020).
 * - "Not found" is `undefined` from `get` and `head`, never an exception; `delete` of a missing
 *   key succeeds.
 * - Transient failures throw UnavailableError (retryable); the caller owns the retry policy.
 * - Durable once resolved: a write resolves only when the store holds the object durably (S3: on
 *   its answer; a local directory: after fsync of the file and of its directory).
 */
export interface ObjectStore {
  /**
   * The largest source `copyIfAbsent` copies (S3's CopyObject: 5 GiB); undefined when there is
   * no limit. Callers with a larger body write it again with a put instead.
   */
  readonly copyLimitBytes?: number;
  /** Writes `body` under `key` unless the key exists. `sha256` is the hex digest of `body`. */
  putIfAbsent(key: string, body: Buffer, sha256: string, metadata: Record<string, string>): Promise<void>;
  /**
   * Streams `body` under `key` unless the key exists, without holding it whole in memory
   * (multipart for large bodies). Returns the size and the hex SHA-256 of what was stored.
   * Metadata is fixed before the body is read, so it cannot carry the body's digest; callers
   * that need one record it elsewhere (e.g. a manifest).
   */
  putStreamIfAbsent(key: string, body: Readable, metadata: Record<string, string>, opts?: PutStreamOptions): Promise<{ sizeBytes: number; sha256: string }>;
  /**
   * Copies `from` to `to` (inside the store, no bytes through this process) with new metadata,
   * unless `to` exists: write-once like the puts (ObjectExistsError). `from` must exist. A source
   * larger than `copyLimitBytes` fails with CopyTooLargeError (not retryable) and writes nothing.
   */
  copyIfAbsent(from: string, to: string, metadata: Record<string, string>): Promise<void>;
  get(key: string): Promise<StoredObject | undefined>;
  /** A stream of the body; undefined when the key does not exist. */
  getStream(key: string): Promise<Readable | undefined>;
  head(key: string): Promise<ObjectInfo | undefined>;
  /** Every key under `prefix`, in key order, starting after `startAfter` when given. */
  list(prefix: string, startAfter?: string): AsyncIterable<ObjectInfo>;
  delete(key: string): Promise<void>;
}

/**
 * An object store that hands every call to `inner`: the base of a decorator, which overrides only
 * the calls it adds to (counting, reading ahead).
 */
export class ForwardingObjectStore implements ObjectStore {
  constructor(protected readonly inner: ObjectStore) {}

  get copyLimitBytes(): number | undefined {
    return this.inner.copyLimitBytes;
  }

  putIfAbsent(key: string, body: Buffer, sha256: string, metadata: Record<string, string>): Promise<void> {
    return this.inner.putIfAbsent(key, body, sha256, metadata);
  }

  putStreamIfAbsent(key: string, body: Readable, metadata: Record<string, string>, opts?: PutStreamOptions): Promise<{ sizeBytes: number; sha256: string }> {
    return this.inner.putStreamIfAbsent(key, body, metadata, opts);
  }

  copyIfAbsent(from: string, to: string, metadata: Record<string, string>): Promise<void> {
    return this.inner.copyIfAbsent(from, to, metadata);
  }

  get(key: string): Promise<StoredObject | undefined> {
    return this.inner.get(key);
  }

  getStream(key: string): Promise<Readable | undefined> {
    return this.inner.getStream(key);
  }

  head(key: string): Promise<ObjectInfo | undefined> {
    return this.inner.head(key);
  }

  list(prefix: string, startAfter?: string): AsyncIterable<ObjectInfo> {
    return this.inner.list(prefix, startAfter);
  }

  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }
}
