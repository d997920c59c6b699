import { createHash, randomUUID, type Hash } from 'node:crypto';
import { closeSync, createReadStream, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';

/** A chunk body kept on local disk instead of in memory: a transaction larger than the chunk limit. */
export interface SpilledBody {
  path: string;
  sizeBytes: number;
  /** Hex SHA-256 of the body, computed while it was written. */
  sha256: string;
  open(): Readable;
  remove(): void;
}

/** A body being written event by event. */
export interface Spill {
  append(bytes: Buffer): void;
  readonly sizeBytes: number;
  finish(): SpilledBody;
  discard(): void;
}

export type SpillFactory = () => Spill;

/**
 * Spills to files in `dir`. Writes are synchronous (the chunker is synchronous); each is one
 * event, so memory holds one event at a time, however large the transaction.
 */
export function fileSpill(dir: string): SpillFactory {
  return () => {
    const path = join(dir, `squirrel-spill-${process.pid}-${randomUUID()}`);
    const fd = openSync(path, 'wx', 0o600);
    const hash: Hash = createHash('sha256');
    let sizeBytes = 0;
    let closed = false;
    const close = () => {
      if (!closed) closeSync(fd);
      closed = true;
    };
    return {
      append(bytes: Buffer) {
        for (let written = 0; written < bytes.length; ) written += writeSync(fd, bytes, written);
        hash.update(bytes);
        sizeBytes += bytes.length;
      },
      get sizeBytes() {
        return sizeBytes;
      },
      finish(): SpilledBody {
        close();
        return {
          path,
          sizeBytes,
          sha256: hash.digest('hex'),
          open: () => createReadStream(path),
          remove: () => rmSync(path, { force: true }),
        };
      },
      discard() {
        close();
        rmSync(path, { force: true });
      },
    };
  };
}
