/**
 * The post-header of row events (WRITE/UPDATE/DELETE_ROWS v1 and v2, PARTIAL_UPDATE_ROWS).
 * https://mariadb.com/kb/en/rows_event_v1v2-rows_compressed_event_v1/
 * https://dev.mysql.com/doc/dev/mysql-server/latest/classmysql_1_1binlog_1_1event_1_1Rows__event.html
 *
 * table_id u48 (u32 when the post-header length is 6, MySQL 5.1.0-5.1.15), flags u16, and in v2
 * (post-header length 10) extra_data_len u16 counting itself, then extra data: tagged items
 *   tag 0 (NDB / RW_V_EXTRAINFO_TAG): length u8 (of the item after the tag, itself included, >= 2),
 *     format u8, data;
 *   tag 1 (MySQL 8 partition info): partition_id u16, and source_partition_id u16 for updates.
 * An unknown tag ends the walk, as in both servers. Row images are not decoded here.
 * Only the extra data is checked: MDEV-39485 found MariaDB asserting on a tag 0 without its
 * length, a length below 2, and a length past the end of the extra data.
 */
import { ProtocolError } from '../errors.js';
import { EventType } from './event-types.js';
import { postHeaderLength } from './binlog-format.js';
import { bodyReader, describeEvent, type RawEvent } from './raw-event.js';

const POST_HEADER_V2 = 10;
const POST_HEADER_OLD = 6;
const TAG_EXTRA_INFO = 0;
const TAG_PARTITION = 1;
const EXTRA_INFO_HEADER_LENGTH = 2;

const v2Types: ReadonlySet<number> = new Set([
  EventType.WRITE_ROWS_V2,
  EventType.UPDATE_ROWS_V2,
  EventType.DELETE_ROWS_V2,
  EventType.PARTIAL_UPDATE_ROWS,
]);

/** Rows event flags. */
export const RowsFlag = {
  /** Last row event of a statement: the table maps may be freed. */
  STMT_END: 0x0001,
} as const;

export interface RowsHeader {
  tableId: number;
  flags: number;
}

export function decodeRowsHeader(ev: RawEvent): RowsHeader {
  const r = bodyReader(ev);
  const type = ev.header.typeCode;
  const declared = postHeaderLength(ev.format, type) ?? (v2Types.has(type) ? POST_HEADER_V2 : 8);
  const tableId = declared === POST_HEADER_OLD ? r.u32le('table id') : r.u48le('table id');
  const flags = r.u16le('flags');
  if (declared !== POST_HEADER_V2) return { tableId, flags };
  const fail = (message: string, at: number): never => {
    throw new ProtocolError(message, { what: describeEvent(ev), offset: ev.offset + at });
  };
  const lengthAt = r.offset;
  const extraLength = r.u16le('extra data length');
  if (extraLength < 2) fail(`extra data length ${extraLength} is below 2`, lengthAt);
  if (extraLength - 2 > r.remaining) fail(`extra data length ${extraLength} runs past the end of the event`, lengthAt);
  const end = r.offset + extraLength - 2;
  while (r.offset < end) {
    const at = r.offset;
    const tag = r.u8('extra data tag');
    if (tag === TAG_EXTRA_INFO) {
      if (end - r.offset < EXTRA_INFO_HEADER_LENGTH) fail('extra row info tag without its length and format', at);
      const length = r.u8('extra row info length');
      if (length < EXTRA_INFO_HEADER_LENGTH) fail(`extra row info length ${length} is below ${EXTRA_INFO_HEADER_LENGTH}`, at);
      if (r.offset - 1 + length > end) fail(`extra row info length ${length} runs past the extra data`, at);
      r.skip(length - 1, 'extra row info');
    } else if (tag === TAG_PARTITION) {
      const isUpdate = type === EventType.UPDATE_ROWS_V2 || type === EventType.PARTIAL_UPDATE_ROWS;
      const size = isUpdate ? 4 : 2;
      if (r.offset + size > end) fail('partition info runs past the extra data', at);
      r.skip(size, 'partition info');
    } else {
      break;
    }
  }
  return { tableId, flags };
}
