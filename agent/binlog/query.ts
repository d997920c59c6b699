/**
 * QUERY_EVENT (type 2): a statement, with the session state it ran in.
 * https://mariadb.com/kb/en/query_event/
 *
 * Post-header (13 bytes in v4, 11 before): thread_id u32, exec_time u32, db_len u8, error_code u16,
 * and in v4 status_vars_len u16; any further post-header bytes a newer server declares are skipped.
 * Body: status variables (status_vars_len bytes, not decoded here), the default database
 * (db_len bytes + NUL), then the statement to the end of the event.
 * Corrupt input seen in the wild: Bug#31793 (a status_vars_len far past the event's end); the bounds
 * check turns it into a ProtocolError.
 */
import { ProtocolError } from '../errors.js';
import { EventType } from './event-types.js';
import { postHeaderLength } from './binlog-format.js';
import { bodyReader, describeEvent, type RawEvent } from './raw-event.js';

/** QUERY_HEADER_MINIMAL_LEN: the v1/v3 post-header, without status_vars_len. */
const POST_HEADER_V3 = 11;
/** QUERY_HEADER_LEN: the v4 post-header. */
const POST_HEADER_V4 = 13;

export interface QueryEvent {
  threadId: number;
  execTimeSeconds: number;
  errorCode: number;
  /** The default database ('' when none). */
  database: string;
  /** The statement text. */
  statement: string;
}

export function decodeQuery(ev: RawEvent): QueryEvent {
  const r = bodyReader(ev);
  const declared = postHeaderLength(ev.format, EventType.QUERY) ?? (ev.format.binlogVersion >= 4 ? POST_HEADER_V4 : POST_HEADER_V3);
  if (declared < POST_HEADER_V3) {
    throw new ProtocolError(`QUERY post-header length ${declared} is shorter than ${POST_HEADER_V3}`, {
      what: describeEvent(ev),
      offset: ev.offset,
    });
  }
  const start = r.offset;
  const threadId = r.u32le('thread id');
  const execTimeSeconds = r.u32le('exec time');
  const dbLength = r.u8('db length');
  const errorCode = r.u16le('error code');
  const statusVarsLength = declared >= POST_HEADER_V4 ? r.u16le('status vars length') : 0;
  r.skip(declared - (r.offset - start), 'post-header');
  r.skip(statusVarsLength, 'status vars');
  const database = r.fixedString(dbLength, 'database');
  const nul = r.offset;
  if (r.u8('database terminator') !== 0) {
    throw new ProtocolError('database name is not NUL-terminated', { what: describeEvent(ev), offset: ev.offset + nul });
  }
  const statement = r.rest().toString('utf8');
  return { threadId, execTimeSeconds, errorCode, database, statement };
}
