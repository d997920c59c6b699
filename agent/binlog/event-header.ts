/**
 * The common header every binlog event starts with.
 * https://mariadb.com/kb/en/2-binlog-event-header/ (mariadb-docs replication-protocol/2-binlog-event-header.md)
 * https://dev.mysql.com/doc/dev/mysql-server/latest/classmysql_1_1binlog_1_1event_1_1Log__event__header.html
 *
 * v4 (MySQL 5.0+, every MariaDB) and v3 (MySQL 4.x): 19 bytes
 *   timestamp u32, type u8, server_id u32, event_size u32, log_pos u32 (position of the NEXT event), flags u16
 * v1 (MySQL 3.23): 13 bytes, the same without log_pos and flags.
 * A v4 FORMAT_DESCRIPTION may declare a longer common header (Google's 5.1 patches wrote 23-31 bytes,
 * MDEV-4645); the first 19 bytes keep this layout and the rest is skipped.
 */
import { PacketReader } from '../protocol/packet-reader.js';

/** Header length of binlog format v3 and v4 events. */
export const HEADER_LENGTH_V4 = 19;
/** Header length of binlog format v1 events (MySQL 3.23): no log_pos, no flags. */
export const HEADER_LENGTH_V1 = 13;
/** `event_size` sits at the same offset in every header version, so framing needs only this many bytes. */
export const FRAMING_PREFIX_LENGTH = 13;
/** Offset of the u32 `event_size` field. */
export const EVENT_SIZE_OFFSET = 9;
/** Offset of the u16 `flags` field (v3/v4). */
export const FLAGS_OFFSET = 17;
/** Offset of the type code byte. */
export const TYPE_CODE_OFFSET = 4;

/** Header flag bits (https://mariadb.com/kb/en/2-binlog-event-header/#event-flag). */
export const EventFlag = {
  /** Set in the FORMAT_DESCRIPTION of a file the server has not closed (still written, or crashed). */
  BINLOG_IN_USE: 0x0001,
  /** The event depends on the thread that ran it (temporary tables). */
  THREAD_SPECIFIC: 0x0004,
  /** The statement must not be run with `USE db` first. */
  SUPPRESS_USE: 0x0008,
  /** Made up by the primary for the dump stream (fake ROTATE); not bytes of any file. */
  ARTIFICIAL: 0x0020,
  /** Written by a replica into its relay log. */
  RELAY_LOG: 0x0040,
  /** A reader that does not know the type may skip it. */
  IGNORABLE: 0x0080,
} as const;

export interface EventHeader {
  /** Seconds since the Unix epoch when the statement started. */
  timestamp: number;
  typeCode: number;
  /** server_id of the server that first wrote the event. */
  serverId: number;
  /** Size of the whole event: header, body and checksum. */
  eventSize: number;
  /** End position of this event in the primary's binlog (= where the next event starts); 0 in v1 and for some artificial events. */
  logPos: number;
  flags: number;
}

/**
 * Reads the common header at `buf[0]`. `base` is the event's absolute offset (for errors);
 * `headerLength` 13 selects the v1 layout.
 */
export function readEventHeader(buf: Buffer, base: number, headerLength: number = HEADER_LENGTH_V4): EventHeader {
  if (buf.length >= HEADER_LENGTH_V4) {
    // the whole header is there (every framed event): read the fields in place, once per event on the hot path
    const timestamp = buf.readUInt32LE(0);
    const typeCode = buf[4]!;
    const serverId = buf.readUInt32LE(5);
    const eventSize = buf.readUInt32LE(9);
    if (headerLength === HEADER_LENGTH_V1) return { timestamp, typeCode, serverId, eventSize, logPos: 0, flags: 0 };
    return { timestamp, typeCode, serverId, eventSize, logPos: buf.readUInt32LE(13), flags: buf.readUInt16LE(17) };
  }
  // a short buffer: the reader names the field it ran out in
  const r = new PacketReader(buf, 'event header', base);
  const timestamp = r.u32le('timestamp');
  const typeCode = r.u8('type code');
  const serverId = r.u32le('server id');
  const eventSize = r.u32le('event size');
  if (headerLength === HEADER_LENGTH_V1) return { timestamp, typeCode, serverId, eventSize, logPos: 0, flags: 0 };
  const logPos = r.u32le('log position');
  const flags = r.u16le('flags');
  return { timestamp, typeCode, serverId, eventSize, logPos, flags };
}
