import { createHash, randomUUID, type Hash } from 'node:crypto';
import { closeSync, createReadStream, openSync, rmSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';

/** Where a spilled body was uploaded while it was written: a staging object, to be copied into place. */
export interface StagedObject {
  key: string;
  sizeBytes: number;
  sha256: string;
}

/** Uploads a body as it is written (the store streams it by multipart); resolves once stored. */
export type StageUpload = (body: Readable) => Promise<StagedObject>;

/** A chunk body kept on local disk instead of in memory: a transaction larger than the chunk limit. */
export interface SpilledBody {
  path: string;
  sizeBytes: number;
  /** Hex SHA-256 of the body, computed while it was written. */
  sha256: string;
  open(): Readable;
  remove(): void;
  /** The upload that ran while the body was written, when the spill was given one. */
  staged?: Promise<StagedObject>;
}

/** A body being written event by event. */
export interface Spill {
  append(bytes: Buffer): void;
  readonly sizeBytes: number;
  finish(): SpilledBody;
  discard(): void;
}

export type SpillFactory = () => Spill;

export interface FileSpillOptions {
  /**
   * Stop the staging upload (it fails) once the body grows past this: the store cannot copy a
   * larger staging object into place (`ObjectStore.copyLimitBytes`), so uploading it is wasted.
   * @default no limit
   */
  stageLimitBytes?: number;
}

/**
 * Spills to files in `dir`. Writes are synchronous (the chunker is synchronous); each is one
 * event, so memory holds one event at a time, however large the transaction. With `stage`, the
 * file is also uploaded while it grows: a reader follows the writer (1 MiB reads) and feeds the
 * upload, so the transaction is mostly stored by the time it commits.
 */
export function fileSpill(dir: string, stage?: StageUpload, opts: FileSpillOptions = {}): SpillFactory {
  return () => {
    const path = join(dir, `squirrel-spill-${process.pid}-${randomUUID()}`);
    const fd = openSync(path, 'wx', 0o600);
    const hash: Hash = createHash('sha256');
    let sizeBytes = 0;
    let closed = false;
    let finished = false;
    let discarded = false;
    let wake: (() => void) | undefined;
    const signal = () => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    const close = () => {
      if (!closed) closeSync(fd);
      closed = true;
    };
    async function* follow(): AsyncGenerator<Buffer> {
      const reader = await open(path, 'r');
      const buf = Buffer.alloc(1 << 20);
      let pos = 0;
      try {
        for (;;) {
          if (discarded) throw new Error('the spilled transaction was discarded');
          if (opts.stageLimitBytes !== undefined && sizeBytes > opts.stageLimitBytes) {
            throw new Error(`the spilled transaction is over the copy limit (${opts.stageLimitBytes} bytes); it is uploaded from the spill file at its commit`);
          }
          if (pos < sizeBytes) {
            const { bytesRead } = await reader.read(buf, 0, Math.min(buf.length, sizeBytes - pos), pos);
            pos += bytesRead;
            yield Buffer.from(buf.subarray(0, bytesRead));
            continue;
          }
          if (finished) return;
          await new Promise<void>((resolve) => (wake = resolve));
        }
      } finally {
        await reader.close();
      }
    }
    const staged = stage?.(Readable.from(follow()));
    staged?.catch(() => undefined); // observed by the shipper, or dropped with the spill
    return {
      append(bytes: Buffer) {
        for (let written = 0; written < bytes.length; ) written += writeSync(fd, bytes, written);
        hash.update(bytes);
        sizeBytes += bytes.length;
        signal();
      },
      get sizeBytes() {
        return sizeBytes;
      },
      finish(): SpilledBody {
        close();
        finished = true;
        signal();
        return {
          path,
          sizeBytes,
          sha256: hash.digest('hex'),
          open: () => createReadStream(path),
          remove: () => rmSync(path, { force: true }),
          ...(staged ? { staged } : {}),
        };
      },
      discard() {
        close();
        discarded = true;
        finished = true;
        signal();
        rmSync(path, { force: true });
      },
    };
  };
}
