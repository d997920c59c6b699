/**
 * Binlog event type codes (the byte at offset 4 of every event header).
 *
 * MySQL: https://dev.mysql.com/doc/dev/mysql-server/latest/namespacemysql_1_1binlog_1_1event.html
 *   (enum Log_event_type in libs/mysql/binlog/event/binlog_event.h)
 * MariaDB: https://mariadb.com/kb/en/replication-protocol/ (mariadb-docs
 *   server/reference/clientserver-protocol/replication-protocol/, and sql/log_event.h)
 *
 * Names follow shared/fixtures/MANIFEST.md: MySQL names without the `_EVENT` suffix, MariaDB-only
 * types (160 and up) prefixed `MARIA_`, unknown codes `TYPE_<n>`.
 */
export enum EventType {
  /** 0: never written; a reader that sees it has lost the framing. */
  UNKNOWN = 0,
  /** 1: first event of a binlog format v1/v3 file (MySQL 3.23-4.x), replaced by FORMAT_DESCRIPTION in v4. */
  START_V3 = 1,
  /** 2: a statement (DDL, statement-based DML, BEGIN, COMMIT...) with its default database. */
  QUERY = 2,
  /** 3: the server stopped; last event of a file that was closed by shutdown. */
  STOP = 3,
  /** 4: names the next binlog file and the position to read it from; last event of a rotated file. */
  ROTATE = 4,
  /** 5: LAST_INSERT_ID or INSERT_ID value for the statement that follows. */
  INTVAR = 5,
  /** 6: LOAD DATA INFILE (binlog v3). */
  LOAD = 6,
  /** 7: unused (planned for slave registration). */
  SLAVE = 7,
  /** 8: LOAD DATA INFILE: start of the file's data (v3). */
  CREATE_FILE = 8,
  /** 9: LOAD DATA INFILE: a further block of the file's data. */
  APPEND_BLOCK = 9,
  /** 10: LOAD DATA INFILE: execute the load (v3). */
  EXEC_LOAD = 10,
  /** 11: LOAD DATA INFILE: discard the file (the statement failed). */
  DELETE_FILE = 11,
  /** 12: LOAD DATA INFILE with more options (v3). */
  NEW_LOAD = 12,
  /** 13: seeds of RAND() for the statement that follows. */
  RAND = 13,
  /** 14: a user variable used by the statement that follows. */
  USER_VAR = 14,
  /** 15: first event of a v4 file: server version, header and post-header lengths, checksum algorithm. */
  FORMAT_DESCRIPTION = 15,
  /** 16: commit of a transaction on a transactional (XA-capable) engine. */
  XID = 16,
  /** 17: LOAD DATA INFILE: first block of the file's data (v4). */
  BEGIN_LOAD_QUERY = 17,
  /** 18: LOAD DATA INFILE: the statement that loads the file (v4). */
  EXECUTE_LOAD_QUERY = 18,
  /** 19: maps a table id to a table definition for the row events that follow. */
  TABLE_MAP = 19,
  /** 20: row insert, pre-GA 5.1 format. */
  WRITE_ROWS_V0 = 20,
  /** 21: row update, pre-GA 5.1 format. */
  UPDATE_ROWS_V0 = 21,
  /** 22: row delete, pre-GA 5.1 format. */
  DELETE_ROWS_V0 = 22,
  /** 23: row insert (MySQL 5.1-5.5, MariaDB all versions). */
  WRITE_ROWS_V1 = 23,
  /** 24: row update, v1. */
  UPDATE_ROWS_V1 = 24,
  /** 25: row delete, v1. */
  DELETE_ROWS_V1 = 25,
  /** 26: something happened on the primary that a replica must know (e.g. lost events). */
  INCIDENT = 26,
  /** 27: sent by the primary on an idle dump connection; never in a file. */
  HEARTBEAT = 27,
  /** 28: an event a reader may skip when it does not know it (MySQL 5.6+). */
  IGNORABLE = 28,
  /** 29: the statement text of the row events that follow (binlog_rows_query_log_events). */
  ROWS_QUERY = 29,
  /** 30: row insert, v2 (MySQL 5.6+): v1 plus a variable-length extra-data header. */
  WRITE_ROWS_V2 = 30,
  /** 31: row update, v2. */
  UPDATE_ROWS_V2 = 31,
  /** 32: row delete, v2. */
  DELETE_ROWS_V2 = 32,
  /** 33: MySQL GTID (uuid:gno) that starts a transaction. */
  GTID = 33,
  /** 34: MySQL transaction without a GTID (gtid_mode OFF); same layout as GTID. */
  ANONYMOUS_GTID = 34,
  /** 35: MySQL GTID set executed before this file. */
  PREVIOUS_GTIDS = 35,
  /** 36: MySQL group replication: transaction write set (never in a file). */
  TRANSACTION_CONTEXT = 36,
  /** 37: MySQL group replication: membership change. */
  VIEW_CHANGE = 37,
  /** 38: XA PREPARE: ends the first half of an XA transaction. */
  XA_PREPARE = 38,
  /** 39: MySQL 8 row update carrying partial JSON diffs (binlog_row_value_options=PARTIAL_JSON). */
  PARTIAL_UPDATE_ROWS = 39,
  /** 40: MySQL 8.0.20+ compressed transaction: a zstd frame of the transaction's events. */
  TRANSACTION_PAYLOAD = 40,
  /** 41: MySQL 8.0.26+ heartbeat with the current file name and position. */
  HEARTBEAT_V2 = 41,
  /** 42: MySQL 8.3+ GTID with a tag (uuid:tag:gno), serialized in the field-tagged format. */
  GTID_TAGGED = 42,
  /** 160: MariaDB: the statement text of the row events that follow (binlog_annotate_row_events). */
  MARIA_ANNOTATE_ROWS = 160,
  /** 161: MariaDB: the oldest binlog file that crash recovery still needs. */
  MARIA_BINLOG_CHECKPOINT = 161,
  /** 162: MariaDB GTID (domain-server-seq) that starts an event group. */
  MARIA_GTID = 162,
  /** 163: MariaDB: the last GTID of every domain before this file. */
  MARIA_GTID_LIST = 163,
  /** 164: MariaDB: every later event in this file is encrypted. */
  MARIA_START_ENCRYPTION = 164,
  /** 165: MariaDB QUERY with a zlib-compressed statement (log_bin_compress). */
  MARIA_QUERY_COMPRESSED = 165,
  /** 166: MariaDB compressed WRITE_ROWS_V1. */
  MARIA_WRITE_ROWS_COMPRESSED_V1 = 166,
  /** 167: MariaDB compressed UPDATE_ROWS_V1. */
  MARIA_UPDATE_ROWS_COMPRESSED_V1 = 167,
  /** 168: MariaDB compressed DELETE_ROWS_V1. */
  MARIA_DELETE_ROWS_COMPRESSED_V1 = 168,
  /** 169: MariaDB compressed WRITE_ROWS (v2 layout). */
  MARIA_WRITE_ROWS_COMPRESSED = 169,
  /** 170: MariaDB compressed UPDATE_ROWS (v2 layout). */
  MARIA_UPDATE_ROWS_COMPRESSED = 170,
  /** 171: MariaDB compressed DELETE_ROWS (v2 layout). */
  MARIA_DELETE_ROWS_COMPRESSED = 171,
}

/** The name of an event type code as used in reports and MANIFEST.md; unknown codes are `TYPE_<n>`. */
export function eventTypeName(code: number): string {
  const name = (EventType as unknown as Record<number, string | undefined>)[code];
  return name ?? `TYPE_${code}`;
}

const rowsEventTypes: ReadonlySet<number> = new Set([
  EventType.WRITE_ROWS_V0,
  EventType.UPDATE_ROWS_V0,
  EventType.DELETE_ROWS_V0,
  EventType.WRITE_ROWS_V1,
  EventType.UPDATE_ROWS_V1,
  EventType.DELETE_ROWS_V1,
  EventType.WRITE_ROWS_V2,
  EventType.UPDATE_ROWS_V2,
  EventType.DELETE_ROWS_V2,
  EventType.PARTIAL_UPDATE_ROWS,
  EventType.MARIA_WRITE_ROWS_COMPRESSED_V1,
  EventType.MARIA_UPDATE_ROWS_COMPRESSED_V1,
  EventType.MARIA_DELETE_ROWS_COMPRESSED_V1,
  EventType.MARIA_WRITE_ROWS_COMPRESSED,
  EventType.MARIA_UPDATE_ROWS_COMPRESSED,
  EventType.MARIA_DELETE_ROWS_COMPRESSED,
]);

/** True for every row-change event type (any version, compressed or not). */
export function isRowsEvent(code: number): boolean {
  return rowsEventTypes.has(code);
}
