/**
 * The events a primary makes up for a dump stream, which are bytes of no binlog file: the fake
 * ROTATE that names each file before its FORMAT_DESCRIPTION, heartbeats while idle, fake GTID_LIST
 * events (after the replica's start position is reached, and when a START SLAVE UNTIL position is),
 * and the FORMAT_DESCRIPTION as re-sent. Built as MariaDB's sql/sql_repl.cc builds them
 * (fake_event_header, fake_rotate_event, send_heartbeat_event, fake_gtid_list_event,
 * send_format_descriptor_event). The replica side that tells them apart is protocol/dump-decoder.ts.
 * https://mariadb.com/kb/en/rotate_event/ https://mariadb.com/kb/en/heartbeat_log_event/
 * https://mariadb.com/kb/en/gtid_list_event/ https://mariadb.com/kb/en/format_description_event/
 *
 * Where the docs fall short: the heartbeat page omits the 8-byte position that follows the header
 * when the position does not fit log_pos's 4 bytes (log_pos is then 0); and no page says that every
 * made-up event carries the primary's own server_id, which is why it must differ from the replica's.
 */
import { EventFlag, FLAGS_OFFSET, HEADER_LENGTH_V4 } from '../binlog/event-header.js';
import { EventType } from '../binlog/event-types.js';
import type { MariaGtid } from '../protocol/gtid.js';
import { PacketWriter } from '../protocol/packet-writer.js';

/** The checksum the made-up events carry: the one the replica asked for, then the file's. */
export type EventChecksum = 'CRC32' | 'NONE';

/** Offset of the u32 log_pos in the v4 header. */
const LOG_POS_OFFSET = 13;
/** Offset of the FORMAT_DESCRIPTION's u32 `created`: after the header, binlog_version u16 and server_version[50]. */
const FDE_CREATED_OFFSET = HEADER_LENGTH_V4 + 2 + 50;
/** Gtid_list_log_event::FLAG_UNTIL_REACHED, in the top 4 bits of the count word. */
export const GTID_LIST_UNTIL_REACHED = 1 << 28;
const U32_MAX = 0xffffffff;

function header(type: EventType, serverId: number, logPos: number, flags: number): PacketWriter {
  return new PacketWriter()
    .u32le(0) // timestamp 0 tells a replica the event is made up
    .u8(type)
    .u32le(serverId)
    .u32le(0) // event_size: filled in by finishEvent
    .u32le(logPos)
    .u16le(flags);
}

/** The fake ROTATE sent before each file: names it and the position the dump reads it from. */
export function fakeRotate(file: string, position: number, serverId: number, checksum: EventChecksum): Buffer {
  return header(EventType.ROTATE, serverId, 0, EventFlag.ARTIFICIAL).u64le(position).string(file).finishEvent(checksum === 'CRC32');
}

/** A heartbeat: the file being sent and the position reached in it. */
export function heartbeat(file: string, position: number, serverId: number, checksum: EventChecksum): Buffer {
  const fits = position <= U32_MAX;
  const w = header(EventType.HEARTBEAT, serverId, fits ? position : 0, 0);
  if (!fits) w.u64le(position);
  return w.string(file).finishEvent(checksum === 'CRC32');
}

/** A fake GTID_LIST at `position` (where sending resumes), optionally flagged UNTIL_REACHED. */
export function fakeGtidList(gtids: readonly MariaGtid[], flags: number, position: number, serverId: number, checksum: EventChecksum): Buffer {
  const w = header(EventType.MARIA_GTID_LIST, serverId, position, EventFlag.ARTIFICIAL).u32le((gtids.length | flags) >>> 0);
  for (const g of gtids) w.u32le(g.domainId).u32le(g.serverId).u64le(g.seqNo);
  return w.finishEvent(checksum === 'CRC32');
}

export interface FormatDescriptionRewrite {
  /** log_pos 0: the event is not at its place in the file (a dump that starts past offset 4). */
  clearLogPos: boolean;
  /** created 0: the replica must not drop its temporary tables (it has seen this file before). */
  clearCreated: boolean;
}

/**
 * The file's FORMAT_DESCRIPTION as a primary sends it: BINLOG_IN_USE cleared, and log_pos or
 * `created` zeroed when asked; the CRC32 is recomputed then. `checksum` is the FDE's own algorithm.
 */
export function formatDescriptionToSend(fde: Buffer, rewrite: FormatDescriptionRewrite, checksum: EventChecksum): Buffer {
  const out = Buffer.from(fde);
  out.writeUInt16LE(out.readUInt16LE(FLAGS_OFFSET) & ~EventFlag.BINLOG_IN_USE, FLAGS_OFFSET);
  if (!rewrite.clearLogPos && !rewrite.clearCreated) return out; // its CRC32 is of the flag-cleared bytes already
  if (rewrite.clearLogPos) out.writeUInt32LE(0, LOG_POS_OFFSET);
  if (rewrite.clearCreated) out.writeUInt32LE(0, FDE_CREATED_OFFSET);
  if (checksum !== 'CRC32') return out;
  const body = out.subarray(0, out.length - 4);
  return new PacketWriter().bytes(body).finishEvent(true);
}

