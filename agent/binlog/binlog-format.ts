/**
 * How the events of one binlog file are laid out: what the FORMAT_DESCRIPTION (v4) or START_EVENT_V3
 * (v1/v3) at the start of the file says. Every event after it is read with this format.
 * https://mariadb.com/kb/en/format_description_event/
 * https://dev.mysql.com/doc/dev/mysql-server/latest/classmysql_1_1binlog_1_1event_1_1Format__description__event.html
 */
import { EventType } from './event-types.js';
import { HEADER_LENGTH_V1, HEADER_LENGTH_V4 } from './event-header.js';

/**
 * The per-event checksum: 'CRC32' (a u32 CRC-32 after every event), 'NONE' (the server supports
 * checksums and has binlog_checksum=NONE), or 'n/a' (the format predates checksums: MySQL < 5.6.1,
 * MariaDB < 5.3, binlog v1/v3).
 */
export type ChecksumAlgorithm = 'CRC32' | 'NONE' | 'n/a';

/** Bytes of checksum at the end of every event. */
export const CRC32_LENGTH = 4;

export interface BinlogFormat {
  /** 1 (MySQL 3.23), 3 (MySQL 4.x) or 4 (MySQL 5.0+, MariaDB). */
  readonly binlogVersion: number;
  /** The server version string of the FORMAT_DESCRIPTION or START_V3 ('' before one was read). */
  readonly serverVersion: string;
  /** Length of the common header of every event but the FORMAT_DESCRIPTION itself (always 19). */
  readonly headerLength: number;
  /** Post-header length per type code: index = type code - 1. Types past the end are unknown. */
  readonly postHeaderLengths: readonly number[];
  readonly checksum: ChecksumAlgorithm;
}

/**
 * The format assumed before the file's first event has been read: v4 headers and no checksum.
 * A dump-stream reader that has set @master_binlog_checksum starts from `{...INITIAL_FORMAT, checksum: 'CRC32'}`.
 */
export const INITIAL_FORMAT: BinlogFormat = {
  binlogVersion: 4,
  serverVersion: '',
  headerLength: HEADER_LENGTH_V4,
  postHeaderLengths: [],
  checksum: 'n/a',
};

/**
 * Post-header lengths of binlog v1 and v3, which have no FORMAT_DESCRIPTION to carry them
 * (from Format_description_log_event's constructor for binlog_ver 1 and 3 in MySQL 5.x log_event.cc).
 */
function legacyPostHeaderLengths(binlogVersion: 1 | 3): number[] {
  const lengths = new Array<number>(EventType.FORMAT_DESCRIPTION - 1).fill(0);
  const set = (type: EventType, n: number): void => {
    lengths[type - 1] = n;
  };
  set(EventType.START_V3, 56); // binlog_version u16, server_version[50], created u32
  set(EventType.QUERY, 11); // thread_id, exec_time, db_len, error_code: no status variables before v4
  set(EventType.ROTATE, binlogVersion === 3 ? 8 : 0); // v1 ROTATE has no position
  set(EventType.LOAD, 18);
  set(EventType.CREATE_FILE, 4);
  set(EventType.APPEND_BLOCK, 4);
  set(EventType.EXEC_LOAD, 4);
  set(EventType.DELETE_FILE, 4);
  set(EventType.NEW_LOAD, 18);
  return lengths;
}

/** The format of a binlog v1 or v3 file, known from its START_V3 event. */
export function legacyFormat(binlogVersion: 1 | 3, serverVersion: string): BinlogFormat {
  return {
    binlogVersion,
    serverVersion,
    headerLength: binlogVersion === 1 ? HEADER_LENGTH_V1 : HEADER_LENGTH_V4,
    postHeaderLengths: legacyPostHeaderLengths(binlogVersion),
    checksum: 'n/a',
  };
}

/** The post-header length the format declares for `typeCode`, or undefined when it does not know the type. */
export function postHeaderLength(format: BinlogFormat, typeCode: number): number | undefined {
  return typeCode >= 1 ? format.postHeaderLengths[typeCode - 1] : undefined;
}

/** Bytes of checksum that end every event in this format. */
export function checksumLength(format: BinlogFormat): number {
  return format.checksum === 'CRC32' ? CRC32_LENGTH : 0;
}
