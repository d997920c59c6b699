/**
 * MySQL GTID_EVENT (33), ANONYMOUS_GTID_EVENT (34) and GTID_TAGGED_LOG_EVENT (42): the event that
 * starts every MySQL 5.6+ transaction.
 * https://dev.mysql.com/doc/dev/mysql-server/latest/classmysql_1_1binlog_1_1event_1_1Gtid__event.html
 * https://dev.mysql.com/doc/dev/mysql-server/latest/PageLibsMysqlSerialization.html (type 42)
 *
 * Types 33/34: flags u8, sid (uuid) 16 bytes, gno i64, then logical-clock and commit-timestamp
 * fields that are not needed here. ANONYMOUS_GTID has a zero sid and gno: it names no GTID.
 *
 * Type 42 (MySQL 8.3+) uses the serialization library's field-tagged encoding instead:
 *   version u8 (2), then varlen payload_size, varlen last_non_ignorable_field_id, then
 *   (varlen field_id, value)* where 0 = flags, 1 = sid (16 varlen bytes), 2 = gno (zig-zag signed),
 *   3 = tag (varlen length + bytes), 4.. = commit-order fields we only skip over as varlen integers.
 * Varlen: the number of trailing 1 bits of the first byte, plus one, is the byte count (0xff: 9
 * bytes, the last 8 raw); the little-endian value of those bytes shifted right by that count is the
 * number. payload_size counts the whole serialized event, the version byte included (the docs do
 * not say so; rust_mysql_common and the server agree).
 */
import { ProtocolError } from '../errors.js';
import type { PacketReader } from '../protocol/packet-reader.js';
import { EventType } from './event-types.js';
import { bodyReader, describeEvent, type RawEvent } from './raw-event.js';

const SID_LENGTH = 16;
const TAGGED_SERIALIZATION_VERSION = 2;

/** Field ids of the tagged GTID message (Gtid_event's encode_fields in control_events.h). */
const Field = {
  FLAGS: 0,
  SID: 1,
  GNO: 2,
  TAG: 3,
  /** last_committed .. commit_group_ticket: all integers. */
  LAST_INTEGER_FIELD: 11,
} as const;

export interface MysqlGtidEvent {
  /** True for ANONYMOUS_GTID: a transaction without a GTID. */
  anonymous: boolean;
  flags: number;
  /** The source server's uuid, `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`. */
  uuid: string;
  gno: bigint;
  /** The tag of a GTID_TAGGED event. */
  tag?: string;
  /** `uuid:gno` or `uuid:tag:gno`; undefined for an anonymous transaction. */
  gtid?: string;
}

/** Formats 16 bytes as a uuid, 8-4-4-4-12 hex digits in byte order. */
export function formatUuid(sid: Buffer): string {
  const h = sid.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function decodeMysqlGtid(ev: RawEvent): MysqlGtidEvent {
  if (ev.header.typeCode === EventType.GTID_TAGGED) return decodeTagged(ev);
  const r = bodyReader(ev);
  const flags = r.u8('flags');
  const uuid = formatUuid(r.bytes(SID_LENGTH, 'sid'));
  const gno = r.u64le('gno');
  const anonymous = ev.header.typeCode === EventType.ANONYMOUS_GTID;
  return { anonymous, flags, uuid, gno, ...(anonymous ? {} : { gtid: `${uuid}:${gno}` }) };
}

/** One varlen unsigned integer of the serialization library. */
function varUint(r: PacketReader, field: string): bigint {
  const first = r.u8(field);
  if (first === 0xff) return r.u64le(field);
  let count = 1;
  while (first & (1 << (count - 1))) count++;
  let value = BigInt(first);
  const more = r.bytes(count - 1, field);
  for (let i = 0; i < more.length; i++) value |= BigInt(more[i] ?? 0) << BigInt(8 * (i + 1));
  return value >> BigInt(count);
}

/** A zig-zag encoded signed varlen integer (non-negative values are `x << 1`). */
function varInt(r: PacketReader, field: string): bigint {
  const u = varUint(r, field);
  return u & 1n ? -(u >> 1n) - 1n : u >> 1n;
}

function decodeTagged(ev: RawEvent): MysqlGtidEvent {
  const r = bodyReader(ev);
  const fail = (message: string, at: number): never => {
    throw new ProtocolError(message, { what: describeEvent(ev), offset: ev.offset + at });
  };
  const start = r.offset;
  const version = r.u8('serialization version');
  if (version !== TAGGED_SERIALIZATION_VERSION) fail(`unsupported serialization version ${version}`, start);
  const payloadSize = varUint(r, 'payload size');
  const lastNonIgnorable = varUint(r, 'last non-ignorable field id');
  const end = start + Number(payloadSize);
  if (payloadSize > BigInt(r.remaining + (r.offset - start)) || end < r.offset) {
    fail(`payload size ${payloadSize} does not fit the event`, start);
  }
  let flags = 0;
  let sid: Buffer | undefined;
  let gno: bigint | undefined;
  let tag: string | undefined;
  while (r.offset < end) {
    const at = r.offset;
    const field = varUint(r, 'field id');
    if (field === BigInt(Field.FLAGS)) flags = Number(varUint(r, 'flags'));
    else if (field === BigInt(Field.SID)) {
      const bytes = Buffer.alloc(SID_LENGTH);
      for (let i = 0; i < SID_LENGTH; i++) {
        const b = varUint(r, 'sid');
        if (b > 255n) fail(`sid byte ${i} is ${b}`, at);
        bytes[i] = Number(b);
      }
      sid = bytes;
    } else if (field === BigInt(Field.GNO)) gno = varInt(r, 'gno');
    else if (field === BigInt(Field.TAG)) tag = r.fixedString(Number(varUint(r, 'tag length')), 'tag');
    else if (field <= BigInt(Field.LAST_INTEGER_FIELD)) varUint(r, 'field value');
    else if (field <= lastNonIgnorable) fail(`unknown non-ignorable field ${field}`, at);
    else break; // an ignorable field we cannot size: everything we need comes before it
  }
  if (!sid || gno === undefined || gno < 0n) return fail('tagged GTID lacks a sid or gno', start);
  const uuid = formatUuid(sid);
  const gtid = tag ? `${uuid}:${tag}:${gno}` : `${uuid}:${gno}`;
  return { anonymous: false, flags, uuid, gno, ...(tag ? { tag } : {}), gtid };
}
