/**
 * The generic server responses: OK, ERR and EOF packets (protocol 4.1, without
 * CLIENT_DEPRECATE_EOF, which this client never asks for).
 * https://mariadb.com/kb/en/ok_packet/ https://mariadb.com/kb/en/err_packet/ https://mariadb.com/kb/en/eof_packet/
 */
import { PacketReader } from './packet-reader.js';

/** First byte of a response payload. */
export enum ResponseHeader {
  /** OK packet; also the status byte before each binlog event in a dump. */
  OK = 0x00,
  /** EOF packet when the payload is shorter than 9 bytes; AuthSwitchRequest during authentication. */
  EOF = 0xfe,
  /** ERR packet. */
  ERR = 0xff,
}

/** Server error codes this client reacts to, and the fake primary sends. https://mariadb.com/kb/en/mariadb-error-code-reference/ */
export enum ServerErrorCode {
  /** Too many connections. */
  ER_CON_COUNT_ERROR = 1040,
  /** Access denied for user (wrong user or password). SQLSTATE 28000. */
  ER_ACCESS_DENIED_ERROR = 1045,
  /** A command byte the server does not implement. SQLSTATE 08S01. */
  ER_UNKNOWN_COM_ERROR = 1047,
  /** Server shutdown in progress. */
  ER_SERVER_SHUTDOWN = 1053,
  /** Host is not allowed to connect. */
  ER_HOST_NOT_PRIVILEGED = 1130,
  /** A statement the server does not support. SQLSTATE 42000. */
  ER_NOT_SUPPORTED_YET = 1235,
  /** The binlog dump cannot go on (purged file, missing GTID, bad position, …): a replica shows it in Last_IO_Error and stops. SQLSTATE HY000. */
  ER_MASTER_FATAL_ERROR_READING_BINLOG = 1236,
  /** Connection was killed. */
  ER_CONNECTION_KILLED = 1927,
}

export interface OkPacket {
  affectedRows: number;
  lastInsertId: number;
  statusFlags: number;
  warnings: number;
}

export interface ErrPacket {
  errno: number;
  /** Five-character SQLSTATE, when the server sent one. */
  sqlState: string | undefined;
  message: string;
}

export function isErrPacket(payload: Buffer): boolean {
  return payload[0] === ResponseHeader.ERR;
}

export function isOkPacket(payload: Buffer): boolean {
  return payload[0] === ResponseHeader.OK;
}

/** EOF is 0xFE with fewer than 9 bytes; longer 0xFE payloads are rows starting with an 8-byte length. */
export function isEofPacket(payload: Buffer): boolean {
  return payload[0] === ResponseHeader.EOF && payload.length < 9;
}

export function parseOkPacket(payload: Buffer): OkPacket {
  const r = new PacketReader(payload, 'OK packet');
  r.u8('header');
  const affectedRows = r.lenencInt('affected rows');
  const lastInsertId = r.lenencInt('last insert id');
  const statusFlags = r.remaining >= 2 ? r.u16le('status flags') : 0;
  const warnings = r.remaining >= 2 ? r.u16le('warnings') : 0;
  return { affectedRows, lastInsertId, statusFlags, warnings };
}

export function parseErrPacket(payload: Buffer): ErrPacket {
  const r = new PacketReader(payload, 'ERR packet');
  r.u8('header');
  const errno = r.u16le('error code');
  let sqlState: string | undefined;
  if (r.remaining >= 6 && payload[r.offset] === 0x23 /* '#' */) {
    r.skip(1, 'sqlstate marker');
    sqlState = r.fixedString(5, 'sqlstate');
  }
  return { errno, sqlState, message: r.rest().toString('utf8') };
}
