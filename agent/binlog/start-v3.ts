/**
 * START_EVENT_V3 (type 1): the first event of a binlog format v1 (MySQL 3.23) or v3 (MySQL 4.x) file,
 * which have no FORMAT_DESCRIPTION. https://mariadb.com/kb/en/start_event_v3/
 *
 * Body: binlog_version u16, server_version char[50], create_timestamp u32 (56 bytes).
 * The header before it is 13 bytes in v1 and 19 in v3; MySQL tells them apart by the event size
 * (69 = 13 + 56 is v1), before it can read the binlog_version field, and so do we.
 */
import { ProtocolError } from '../errors.js';
import { PacketReader } from '../protocol/packet-reader.js';
import { readServerVersion } from './format-description.js';
import { HEADER_LENGTH_V1, HEADER_LENGTH_V4 } from './event-header.js';

const START_V3_BODY_LENGTH = 56;

export interface StartV3 {
  binlogVersion: 1 | 3;
  serverVersion: string;
  createTimestamp: number;
}

/** The header length of a START_V3 event of `eventSize` bytes. */
export function startV3HeaderLength(eventSize: number): number {
  return eventSize < HEADER_LENGTH_V4 + START_V3_BODY_LENGTH ? HEADER_LENGTH_V1 : HEADER_LENGTH_V4;
}

/** Decodes a whole START_V3 event (`bytes[0]` is its first header byte, at file offset `offset`). */
export function decodeStartV3(bytes: Buffer, offset: number): StartV3 {
  const r = new PacketReader(bytes, 'START_V3 event', offset, startV3HeaderLength(bytes.length));
  const version = r.u16le('binlog version');
  if (version !== 1 && version !== 3) {
    throw new ProtocolError(`unsupported binlog version ${version} in START_V3`, { what: 'START_V3 event', offset });
  }
  const serverVersion = readServerVersion(r);
  const createTimestamp = r.u32le('create timestamp');
  return { binlogVersion: version, serverVersion, createTimestamp };
}
