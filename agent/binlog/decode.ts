/**
 * Decodes the body of the events squirrel needs to understand, by type code. Every other type is
 * `{ kind: 'other' }`: framed, checksummed and counted, never interpreted. Throws ProtocolError
 * when a body does not fit its layout.
 */
import { EventType, isRowsEvent } from './event-types.js';
import { decodeFormatDescription, type FormatDescription } from './format-description.js';
import { decodeMariaGtid, type MariaGtidEvent } from './maria-gtid.js';
import { decodeMariaGtidList, formatMariaGtid, type MariaGtidListEvent } from './maria-gtid-list.js';
import { decodeMysqlGtid, type MysqlGtidEvent } from './mysql-gtid.js';
import { decodeQuery, type QueryEvent } from './query.js';
import type { RawEvent } from './raw-event.js';
import { decodeRotate, type RotateEvent } from './rotate.js';
import { decodeRowsHeader, type RowsHeader } from './rows-header.js';
import { decodeStartV3, type StartV3 } from './start-v3.js';
import { decodeTransactionPayload, type TransactionPayloadEvent } from './transaction-payload.js';
import { decodeXid, type XidEvent } from './xid.js';

export type DecodedEvent =
  | { kind: 'format-description'; fde: FormatDescription }
  | { kind: 'start-v3'; start: StartV3 }
  | { kind: 'query'; query: QueryEvent }
  | { kind: 'xid'; xid: XidEvent }
  | { kind: 'rotate'; rotate: RotateEvent }
  | { kind: 'maria-gtid'; gtid: MariaGtidEvent }
  | { kind: 'maria-gtid-list'; list: MariaGtidListEvent }
  | { kind: 'mysql-gtid'; gtid: MysqlGtidEvent }
  | { kind: 'transaction-payload'; payload: TransactionPayloadEvent }
  | { kind: 'rows'; typeCode: number; rows: RowsHeader }
  | { kind: 'other'; typeCode: number };

export function decodeEvent(ev: RawEvent): DecodedEvent {
  const type = ev.header.typeCode;
  switch (type) {
    case EventType.FORMAT_DESCRIPTION:
      return { kind: 'format-description', fde: decodeFormatDescription(ev.bytes, ev.offset) };
    case EventType.START_V3:
      return { kind: 'start-v3', start: decodeStartV3(ev.bytes, ev.offset) };
    case EventType.QUERY:
      return { kind: 'query', query: decodeQuery(ev) };
    case EventType.XID:
      return { kind: 'xid', xid: decodeXid(ev) };
    case EventType.ROTATE:
      return { kind: 'rotate', rotate: decodeRotate(ev) };
    case EventType.MARIA_GTID:
      return { kind: 'maria-gtid', gtid: decodeMariaGtid(ev) };
    case EventType.MARIA_GTID_LIST:
      return { kind: 'maria-gtid-list', list: decodeMariaGtidList(ev) };
    case EventType.GTID:
    case EventType.ANONYMOUS_GTID:
    case EventType.GTID_TAGGED:
      return { kind: 'mysql-gtid', gtid: decodeMysqlGtid(ev) };
    case EventType.TRANSACTION_PAYLOAD:
      return { kind: 'transaction-payload', payload: decodeTransactionPayload(ev) };
    default:
      // MariaDB compressed row events keep their post-header in clear; only the rows are zlib.
      if (isRowsEvent(type)) return { kind: 'rows', typeCode: type, rows: decodeRowsHeader(ev) };
      return { kind: 'other', typeCode: type };
  }
}

/** The GTID an event names, if it is a GTID event with one (anonymous MySQL transactions have none). */
export function gtidOf(d: DecodedEvent): string | undefined {
  if (d.kind === 'maria-gtid' || d.kind === 'mysql-gtid') return d.gtid.gtid;
  return undefined;
}

/**
 * The GTID position a GTID_LIST event states (the binlog state at that point of the file), as
 * text; undefined for other events. MySQL's PREVIOUS_GTIDS is not decoded: a MySQL stream's
 * position is followed from its GTID events alone.
 */
export function gtidListOf(d: DecodedEvent): string | undefined {
  return d.kind === 'maria-gtid-list' ? d.list.gtids.map(formatMariaGtid).join(',') : undefined;
}
