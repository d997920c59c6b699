import { ProtocolError } from '../errors.js';

/**
 * Reads little-endian MySQL wire types from one buffer, with bounds checks: a short read throws a
 * ProtocolError naming what was being read and the absolute offset. Call sites never do offset
 * arithmetic. Wire types: https://mariadb.com/kb/en/protocol-data-types/
 */
export class PacketReader {
  private pos: number;

  /**
   * @param what names the packet or event in errors, e.g. "ROTATE event"
   * @param base absolute offset of `buf[0]` in the file or stream, for error messages
   */
  constructor(
    private readonly buf: Buffer,
    private readonly what: string,
    private readonly base = 0,
    start = 0,
    private readonly end = buf.length,
  ) {
    this.pos = start;
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number, field: string): number {
    if (n < 0 || this.pos + n > this.end) {
      throw new ProtocolError(`truncated ${this.what}: ${field} needs ${n} bytes, ${this.end - this.pos} left`, {
        what: this.what,
        offset: this.base + this.pos,
      });
    }
    const at = this.pos;
    this.pos += n;
    return at;
  }

  u8(field = 'u8'): number {
    return this.buf.readUInt8(this.need(1, field));
  }
  u16le(field = 'u16'): number {
    return this.buf.readUInt16LE(this.need(2, field));
  }
  u24le(field = 'u24'): number {
    return this.buf.readUIntLE(this.need(3, field), 3);
  }
  u32le(field = 'u32'): number {
    return this.buf.readUInt32LE(this.need(4, field));
  }
  u48le(field = 'u48'): number {
    return this.buf.readUIntLE(this.need(6, field), 6);
  }
  u64le(field = 'u64'): bigint {
    return this.buf.readBigUInt64LE(this.need(8, field));
  }
  /** A u64 that must fit in a JS number (sequence numbers, positions). */
  u64leNumber(field = 'u64'): number {
    const v = this.u64le(field);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new ProtocolError(`${field} ${v} exceeds 2^53`, { what: this.what, offset: this.base + this.pos - 8 });
    }
    return Number(v);
  }
  /** Length-encoded integer: https://mariadb.com/kb/en/protocol-data-types/#length-encoded-integers */
  lenencInt(field = 'lenenc int'): number {
    const first = this.u8(field);
    if (first < 0xfb) return first;
    if (first === 0xfc) return this.u16le(field);
    if (first === 0xfd) return this.u24le(field);
    if (first === 0xfe) return this.u64leNumber(field);
    throw new ProtocolError(`invalid length-encoded integer prefix 0x${first.toString(16)} in ${field}`, {
      what: this.what,
      offset: this.base + this.pos - 1,
    });
  }
  bytes(n: number, field = 'bytes'): Buffer {
    const at = this.need(n, field);
    return this.buf.subarray(at, at + n);
  }
  fixedString(n: number, field = 'string'): string {
    return this.bytes(n, field).toString('utf8');
  }
  /** A string terminated by a NUL byte, which is consumed. */
  nulString(field = 'string'): string {
    const zero = this.buf.indexOf(0, this.pos);
    if (zero < 0 || zero >= this.end) {
      throw new ProtocolError(`unterminated ${field}`, { what: this.what, offset: this.base + this.pos });
    }
    const s = this.buf.toString('utf8', this.pos, zero);
    this.pos = zero + 1;
    return s;
  }
  lenencString(field = 'string'): string {
    return this.fixedString(this.lenencInt(field), field);
  }
  /** Everything up to the end of the packet. */
  rest(): Buffer {
    return this.bytes(this.end - this.pos, 'rest');
  }
  skip(n: number, field = 'skip'): void {
    this.need(n, field);
  }
}
