import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { ChecksumMismatchError, CopyTooLargeError, ObjectExistsError } from '../errors.js';
import type { ObjectInfo, ObjectStore, StoredObject } from '../ports/object-store.js';
import { sha256Hex } from './bytes.js';

/** An in-process ObjectStore with write-once semantics, for unit tests. */
export class MemoryObjectStore implements ObjectStore {
  readonly objects = new Map<string, { body: Buffer; metadata: Record<string, string> }>();
  readonly copyLimitBytes: number | undefined;

  constructor(opts: { copyLimitBytes?: number } = {}) {
    this.copyLimitBytes = opts.copyLimitBytes;
  }

  async putIfAbsent(key: string, body: Buffer, sha256: string, metadata: Record<string, string>): Promise<void> {
    const actual = sha256Hex(body);
    if (actual !== sha256) throw new ChecksumMismatchError(key, sha256, actual);
    if (this.objects.has(key)) throw new ObjectExistsError(key);
    this.objects.set(key, { body: Buffer.from(body), metadata: { ...metadata } });
  }

  async putStreamIfAbsent(key: string, body: Readable, metadata: Record<string, string>): Promise<{ sizeBytes: number; sha256: string }> {
    if (this.objects.has(key)) throw new ObjectExistsError(key);
    const hash = createHash('sha256');
    const chunks: Buffer[] = [];
    for await (const chunk of body) {
      hash.update(chunk as Buffer);
      chunks.push(chunk as Buffer);
    }
    if (this.objects.has(key)) throw new ObjectExistsError(key);
    const all = Buffer.concat(chunks);
    this.objects.set(key, { body: all, metadata: { ...metadata } });
    return { sizeBytes: all.length, sha256: hash.digest('hex') };
  }

  async copyIfAbsent(from: string, to: string, metadata: Record<string, string>): Promise<void> {
    const o = this.objects.get(from);
    if (!o) throw new Error(`copy source missing: ${from}`);
    if (this.copyLimitBytes !== undefined && o.body.length > this.copyLimitBytes) throw new CopyTooLargeError(from, o.body.length, this.copyLimitBytes);
    if (this.objects.has(to)) throw new ObjectExistsError(to);
    this.objects.set(to, { body: Buffer.from(o.body), metadata: { ...metadata } });
  }

  async get(key: string): Promise<StoredObject | undefined> {
    const o = this.objects.get(key);
    return o && { key, sizeBytes: o.body.length, metadata: { ...o.metadata }, body: Buffer.from(o.body) };
  }

  async getStream(key: string): Promise<Readable | undefined> {
    const o = this.objects.get(key);
    return o && Readable.from([Buffer.from(o.body)]);
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const o = this.objects.get(key);
    return o && { key, sizeBytes: o.body.length, metadata: { ...o.metadata } };
  }

  async *list(prefix: string, startAfter?: string): AsyncIterable<ObjectInfo> {
    const keys = [...this.objects.keys()].filter((k) => k.startsWith(prefix) && (startAfter === undefined || k > startAfter)).sort();
    for (const key of keys) {
      const o = this.objects.get(key);
      if (o) yield { key, sizeBytes: o.body.length, metadata: {} };
    }
  }

  async delete(key: string): Promise<void> {
    this.objects.delete(key);
  }
}
