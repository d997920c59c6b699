import { crc32 } from 'node:zlib';

/**
 * Builds a packet or event body with named little-endian writers. Lengths and checksums are
 * filled in by the writer (`lenencBytes`, `finishEvent`), never summed by hand at call sites.
 */
export class PacketWriter {
  private chunks: Buffer[] = [];
  private length = 0;

  private push(b: Buffer): this {
    this.chunks.push(b);
    this.length += b.length;
    return this;
  }

  get size(): number {
    return this.length;
  }

  u8(v: number): this {
    const b = Buffer.alloc(1);
    b.writeUInt8(v);
    return this.push(b);
  }
  u16le(v: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(v);
    return this.push(b);
  }
  u24le(v: number): this {
    const b = Buffer.alloc(3);
    b.writeUIntLE(v, 0, 3);
    return this.push(b);
  }
  u32le(v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0);
    return this.push(b);
  }
  u48le(v: number): this {
    const b = Buffer.alloc(6);
    b.writeUIntLE(v, 0, 6);
    return this.push(b);
  }
  u64le(v: bigint | number): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    return this.push(b);
  }
  lenencInt(v: number): this {
    if (v < 0xfb) return this.u8(v);
    if (v <= 0xffff) return this.u8(0xfc).u16le(v);
    if (v <= 0xffffff) return this.u8(0xfd).u24le(v);
    return this.u8(0xfe).u64le(v);
  }
  bytes(b: Buffer | Uint8Array): this {
    return this.push(Buffer.from(b));
  }
  zeros(n: number): this {
    return this.push(Buffer.alloc(n));
  }
  string(s: string): this {
    return this.push(Buffer.from(s, 'utf8'));
  }
  nulString(s: string): this {
    return this.string(s).u8(0);
  }
  lenencBytes(b: Buffer): this {
    return this.lenencInt(b.length).bytes(b);
  }
  lenencString(s: string): this {
    return this.lenencBytes(Buffer.from(s, 'utf8'));
  }
  /** A fixed-width field padded with NUL bytes (e.g. the 50-byte server version in an FDE). */
  paddedString(s: string, width: number): this {
    const b = Buffer.alloc(width);
    b.write(s, 'utf8');
    return this.push(b);
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.chunks, this.length);
  }

  /**
   * Treats the written bytes as a binlog event whose 19-byte header has `event_size` at offset 9,
   * fills in the size (including the 4-byte CRC32 when `checksum`), and appends the CRC32.
   */
  finishEvent(checksum: boolean): Buffer {
    const body = this.toBuffer();
    const out = Buffer.alloc(body.length + (checksum ? 4 : 0));
    body.copy(out);
    out.writeUInt32LE(out.length, 9);
    if (checksum) out.writeUInt32LE(crc32(out.subarray(0, body.length)), body.length);
    return out;
  }
}
