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
