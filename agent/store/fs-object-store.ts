import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, link, mkdir, open, readFile, readdir, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ChecksumMismatchError, CopyTooLargeError, ObjectExistsError } from '../errors.js';
import type { ObjectInfo, ObjectStore, StoredObject } from '../ports/object-store.js';
import { sha256Hex } from './bytes.js';

/** The file-system calls durability depends on; injectable so a test can see their order. */
export interface FsOps {
  /** Flushes a file's data, or a directory's entries, to stable storage (fsync(2)). */
  fsync(path: string): Promise<void>;
}

/** fsync(2) through a read-only descriptor: on Linux that flushes the file (or directory) itself. */
export const nodeFsOps: FsOps = {
  async fsync(path) {
    const handle = await open(path, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
};

export interface FsObjectStoreOptions {
  /** The largest source `copyIfAbsent` copies. @default no limit */
  copyLimitBytes?: number;
  /** @default nodeFsOps */
  fsOps?: FsOps;
  /**
   * Whether `putIfAbsent` hashes the body to check the digest it is given, as S3 does. A digest
   * guards the body on its way to a remote store; a directory in the same process has no such
   * way, and a caller that has just hashed the very buffer it hands over (the agent's shipper)
   * gains nothing from a second pass over every byte. @default true
   */
  verifyDigest?: boolean;
}

/**
 * An ObjectStore in a local directory (a mounted volume as the backup target). A key's body is
 * the file `<root>/<key>`; its metadata is `<root>/.meta/<key>.json`. Write-once is enforced with
 * link(2), which fails atomically when the name exists: a body is written to `.tmp/` and then
 * linked into place, so a reader never sees a half-written object. A write resolves only once it
 * survives a power loss: the temp file is fsynced before it is linked, and the directory that
 * gained the name (and any directory created for it, with its parent) after.
 */
export class FsObjectStore implements ObjectStore {
  readonly copyLimitBytes: number | undefined;
  private readonly fs: FsOps;
  private readonly verifyDigest: boolean;

  constructor(
    private readonly root: string,
    opts: FsObjectStoreOptions = {},
  ) {
    this.copyLimitBytes = opts.copyLimitBytes;
    this.fs = opts.fsOps ?? nodeFsOps;
    this.verifyDigest = opts.verifyDigest ?? true;
  }

  private path(key: string): string {
    if (key.startsWith('/') || key.split('/').some((p) => p === '..' || p === '.' || p.startsWith('.meta') || p === '.tmp')) {
      throw new Error(`invalid object key: ${key}`);
    }
    return join(this.root, ...key.split('/'));
  }

  private metaPath(key: string): string {
    return join(this.root, '.meta', ...key.split('/')) + '.json';
  }

  private async tmpFile(): Promise<string> {
    await mkdir(join(this.root, '.tmp'), { recursive: true });
    return join(this.root, '.tmp', randomUUID());
  }

  /** mkdir -p, then fsync of every directory that gained an entry: each one created, and the parent of the first. */
  private async makeDir(dir: string): Promise<void> {
    const first = await mkdir(dir, { recursive: true });
    if (first === undefined) return;
    for (let d = dir; ; d = dirname(d)) {
      await this.fs.fsync(dirname(d));
      if (d === first || dirname(d) === d) break;
    }
  }

  /**
   * Links a finished (and fsynced) temp file into place; EEXIST means the key was written first
   * by someone else. Metadata goes first (also by link, so an existing object's metadata is never replaced);
   * a metadata file without a body is what a crash mid-put leaves, and is replaced.
   */
  private async place(key: string, tmp: string, metadata: Record<string, string>): Promise<void> {
    const target = this.path(key);
    const metaTarget = this.metaPath(key);
    const metaTmp = `${tmp}.meta`;
    try {
      await this.makeDir(dirname(target));
      await this.makeDir(dirname(metaTarget));
      await writeFile(metaTmp, JSON.stringify(metadata));
      await this.fs.fsync(metaTmp);
      try {
        await link(metaTmp, metaTarget);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        if (await this.head(key)) throw new ObjectExistsError(key);
        await rename(metaTmp, metaTarget);
      }
      await this.fs.fsync(dirname(metaTarget));
      await link(tmp, target);
      await this.fs.fsync(dirname(target));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new ObjectExistsError(key);
      throw err;
    } finally {
      await unlink(tmp).catch(() => undefined);
      await unlink(metaTmp).catch(() => undefined);
    }
  }

  async putIfAbsent(key: string, body: Buffer, sha256: string, metadata: Record<string, string>): Promise<void> {
    if (this.verifyDigest) {
      const actual = sha256Hex(body);
      if (actual !== sha256) throw new ChecksumMismatchError(key, sha256, actual);
    }
    // no existence check first: place() links, which fails atomically when the key exists
    const tmp = await this.tmpFile();
    try {
      await writeFile(tmp, body);
      await this.fs.fsync(tmp);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    await this.place(key, tmp, metadata);
  }

  async putStreamIfAbsent(key: string, body: Readable, metadata: Record<string, string>): Promise<{ sizeBytes: number; sha256: string }> {
    if (await this.head(key)) throw new ObjectExistsError(key);
    const tmp = await this.tmpFile();
    const hash = createHash('sha256');
    let sizeBytes = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        sizeBytes += chunk.length;
        done(null, chunk);
      },
    });
    try {
      await pipeline(body, tap, createWriteStream(tmp));
      await this.fs.fsync(tmp);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    await this.place(key, tmp, metadata);
    return { sizeBytes, sha256: hash.digest('hex') };
  }

  async copyIfAbsent(from: string, to: string, metadata: Record<string, string>): Promise<void> {
    const source = await stat(this.path(from));
    if (this.copyLimitBytes !== undefined && source.size > this.copyLimitBytes) throw new CopyTooLargeError(from, source.size, this.copyLimitBytes);
    const tmp = await this.tmpFile();
    try {
      await copyFile(this.path(from), tmp);
      await this.fs.fsync(tmp);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    await this.place(to, tmp, metadata);
  }

  async get(key: string): Promise<StoredObject | undefined> {
    const info = await this.head(key);
    if (!info) return undefined;
    return { ...info, body: await readFile(this.path(key)) };
  }

  async getStream(key: string): Promise<Readable | undefined> {
    return (await this.head(key)) ? createReadStream(this.path(key)) : undefined;
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const s = await stat(this.path(key));
      if (!s.isFile()) return undefined;
      const metadata = JSON.parse(await readFile(this.metaPath(key), 'utf8').catch(() => '{}')) as Record<string, string>;
      return { key, sizeBytes: s.size, metadata };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
      throw err;
    }
  }

  async *list(prefix: string, startAfter?: string): AsyncIterable<ObjectInfo> {
    const keys: { key: string; sizeBytes: number }[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw err;
      }
      for (const e of entries) {
        const full = join(dir, e.name);
        if (dir === this.root && (e.name === '.meta' || e.name === '.tmp')) continue;
        if (e.isDirectory()) await walk(full);
        else if (e.isFile()) {
          const key = relative(this.root, full).split(sep).join('/');
          if (key.startsWith(prefix) && (startAfter === undefined || key > startAfter)) keys.push({ key, sizeBytes: (await stat(full)).size });
        }
      }
    };
    await walk(this.root);
    keys.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    for (const k of keys) yield { ...k, metadata: {} };
  }

  async delete(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
    await rm(this.metaPath(key), { force: true });
  }
}
