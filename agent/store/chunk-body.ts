import { init, compress } from '@bokuweb/zstd-wasm';
import { decompress } from 'fzstd';
import type { StoredObject } from '../ports/object-store.js';
import { sha256Hex } from './bytes.js';

/**
 * A chunk's stored body and its binlog bytes (DESIGN.md, storage contract): the body is the
 * server's event bytes `[start, end)` as they are (`encoding=none`), or one zstd frame of them
 * (`encoding=zstd`); the `sha256` metadata is of the stored body. Every reader goes through
 * `chunkBytes`, so a chunk reads the same in verify, restore, the fake primary and the lineage check.
 */
export type ChunkEncoding = 'none' | 'zstd';

/** The zstd level chunks are written with: the fastest; binlog events compress about 3.5× at it. */
export const CHUNK_ZSTD_LEVEL = 1;

/** Why a stored chunk cannot be read; each reader wraps it in its own error. */
export class ChunkBodyProblem extends Error {}

/**
 * The binlog bytes a stored chunk holds: its SHA-256 checked against its metadata, decoded by its
 * `encoding`, and `expectedBytes` long (the key's `end - start`). Throws ChunkBodyProblem.
 */
export function chunkBytes(stored: StoredObject, expectedBytes: number): Buffer {
  const actual = sha256Hex(stored.body);
  if (!stored.metadata.sha256 || stored.metadata.sha256 !== actual) {
    throw new ChunkBodyProblem(`sha-256 mismatch: metadata says ${stored.metadata.sha256 ?? '(none)'}, body hashes to ${actual}`);
  }
  const encoding = stored.metadata.encoding ?? 'none';
  let body = stored.body;
  if (encoding === 'zstd') {
    try {
      const raw = decompress(stored.body);
      body = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    } catch (err) {
      throw new ChunkBodyProblem(`cannot decompress the chunk (zstd): ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  } else if (encoding !== 'none') {
    throw new ChunkBodyProblem(`unknown encoding '${encoding}'`);
  }
  if (body.length !== expectedBytes) throw new ChunkBodyProblem(`body is ${body.length} bytes, the key names ${expectedBytes}`);
  return body;
}

let ready: Promise<void> | undefined;

/**
 * The encoder of chunk bodies (WebAssembly zstd, loaded once): `encode` gives the body to store
 * for a chunk's binlog bytes.
 */
export async function chunkEncoder(encoding: ChunkEncoding): Promise<(bytes: Buffer) => Buffer> {
  if (encoding === 'none') return (bytes) => bytes;
  ready ??= init();
  await ready;
  return (bytes) => {
    const out = compress(bytes, CHUNK_ZSTD_LEVEL);
    return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
  };
}
