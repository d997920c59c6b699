/** Builds synthetic binlog events for decoder and parser tests. */
import { PacketWriter } from '../../../agent/protocol/packet-writer.js';
import { INITIAL_FORMAT, type BinlogFormat } from '../../../agent/binlog/binlog-format.js';
import { readEventHeader } from '../../../agent/binlog/event-header.js';
import type { RawEvent } from '../../../agent/binlog/raw-event.js';

export interface EventOptions {
  timestamp?: number;
  serverId?: number;
  logPos?: number;
  flags?: number;
  /** Append a CRC32 (default false). */
  checksum?: boolean;
}

/** One v4 event: 19-byte header, the body `write` produces, and optionally a CRC32. */
export function buildEvent(type: number, write: (w: PacketWriter) => void, opts: EventOptions = {}): Buffer {
  const w = new PacketWriter()
    .u32le(opts.timestamp ?? 1_700_000_000)
    .u8(type)
    .u32le(opts.serverId ?? 1)
    .u32le(0) // event_size: filled in by finishEvent
    .u32le(opts.logPos ?? 0)
    .u16le(opts.flags ?? 0);
  write(w);
  return w.finishEvent(opts.checksum ?? false);
}

/** A RawEvent for `bytes` at `offset`, as the parser would hand it over. */
export function rawEvent(bytes: Buffer, format: BinlogFormat = INITIAL_FORMAT, offset = 4): RawEvent {
  return { offset, header: readEventHeader(bytes, offset, format.headerLength), bytes, format, checksum: 'none' };
}

/** An encoder for the MySQL serialization library's varlen unsigned integers (the inverse of the decoder). */
export function varUint(value: bigint): Buffer {
  for (let bytes = 1; bytes <= 8; bytes++) {
    if (value < 1n << BigInt(7 * bytes)) {
      const shifted = (value << BigInt(bytes)) | ((1n << BigInt(bytes - 1)) - 1n);
      const out = Buffer.alloc(bytes);
      for (let i = 0; i < bytes; i++) out[i] = Number((shifted >> BigInt(8 * i)) & 0xffn);
      return out;
    }
  }
  const out = Buffer.alloc(9);
  out[0] = 0xff;
  out.writeBigUInt64LE(value, 1);
  return out;
}
