import { PacketReader } from '../protocol/packet-reader.js';
import { checksumLength, type BinlogFormat } from './binlog-format.js';
import type { EventHeader } from './event-header.js';
import { eventTypeName } from './event-types.js';

/** The verdict on one event's CRC32: 'none' when its format carries no checksum. */
export type ChecksumVerdict = 'ok' | 'bad' | 'none';

/** One complete event as framed by the parser: its bytes, where they were, and how to read them. */
export interface RawEvent {
  /** Absolute offset of the event's first byte in the file (or stream position given to the parser). */
  readonly offset: number;
  readonly header: EventHeader;
  /** The whole event: header, body and checksum (`bytes.length === header.eventSize`). */
  readonly bytes: Buffer;
  /** The format this event was read with; for a FORMAT_DESCRIPTION, the format it declares. */
  readonly format: BinlogFormat;
  readonly checksum: ChecksumVerdict;
}

/** "QUERY event" etc., for error messages. */
export function describeEvent(ev: RawEvent): string {
  return `${eventTypeName(ev.header.typeCode)} event`;
}

/**
 * A reader over the event's post-header and body: after the common header, before the checksum.
 * Offsets in its errors are absolute (file) offsets.
 */
export function bodyReader(ev: RawEvent, headerLength = ev.format.headerLength): PacketReader {
  const end = ev.bytes.length - checksumLength(ev.format);
  return new PacketReader(ev.bytes, describeEvent(ev), ev.offset, Math.min(headerLength, end), end);
}
