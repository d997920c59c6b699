import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';

export function sha256Hex(body: Buffer | Uint8Array): string {
  return createHash('sha256').update(body).digest('hex');
}

/**
 * Re-blocks a stream into buffers of exactly `partBytes` (the last one shorter), holding at most
 * one part plus one incoming chunk in memory.
 */
export async function* parts(body: Readable, partBytes: number): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  for await (const chunk of body) {
    let buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    while (pendingBytes + buf.length >= partBytes) {
      const take = partBytes - pendingBytes;
      pending.push(buf.subarray(0, take));
      yield Buffer.concat(pending, partBytes);
      pending = [];
      pendingBytes = 0;
      buf = buf.subarray(take);
    }
    if (buf.length > 0) {
      pending.push(buf);
      pendingBytes += buf.length;
    }
  }
  if (pendingBytes > 0) yield Buffer.concat(pending, pendingBytes);
}

/**
 * Reads a whole stream into one buffer. With the length known up front (an HTTP Content-Length)
 * each incoming chunk is copied once, straight into place; a stream that ends short or runs long is
 * an error rather than a silently different body.
 */
export async function readAll(body: Readable, lengthBytes?: number): Promise<Buffer> {
  if (lengthBytes === undefined) {
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  }
  const out = Buffer.allocUnsafe(lengthBytes);
  let at = 0;
  for await (const chunk of body) {
    const bytes = chunk as Uint8Array;
    if (at + bytes.length > lengthBytes) {
      body.destroy();
      throw new Error(`the body ran past its announced ${lengthBytes} bytes`);
    }
    out.set(bytes, at);
    at += bytes.length;
  }
  if (at !== lengthBytes) throw new Error(`the body ended after ${at} of its announced ${lengthBytes} bytes`);
  return out;
}
