/**
 * The server's generic answers, protocol 4.1 without CLIENT_DEPRECATE_EOF (the fake primary never
 * offers it): OK, ERR, EOF and text result sets. The client-side parsers of the same packets are in
 * agent/protocol/server-packets.ts and commands.ts.
 * https://mariadb.com/kb/en/ok_packet/ https://mariadb.com/kb/en/err_packet/ https://mariadb.com/kb/en/eof_packet/
 * https://mariadb.com/kb/en/result-set-packets/ (column definition, text rows)
 */
import { PacketWriter } from '../protocol/packet-writer.js';
import { ResponseHeader } from '../protocol/server-packets.js';

/** Server status flags. https://mariadb.com/kb/en/ok_packet/#server-status-flag */
export enum ServerStatus {
  /** Autocommit is on (the only state the fake primary has). */
  AUTOCOMMIT = 0x0002,
}

/** Column types used in result sets. https://mariadb.com/kb/en/result-set-packets/#field-types */
export enum ColumnType {
  /** MYSQL_TYPE_LONGLONG: integers. */
  LONGLONG = 0x08,
  /** MYSQL_TYPE_VAR_STRING: text. */
  VAR_STRING = 0xfd,
}


/** utf8mb4_general_ci, for text columns. */
const CHARSET_UTF8MB4 = 45;
/** binary, for numeric columns. */
const CHARSET_BINARY = 63;

export function buildOk(affectedRows = 0): Buffer {
  return new PacketWriter().u8(ResponseHeader.OK).lenencInt(affectedRows).lenencInt(0).u16le(ServerStatus.AUTOCOMMIT).u16le(0).toBuffer();
}

export function buildErr(errno: number, sqlState: string, message: string): Buffer {
  return new PacketWriter().u8(ResponseHeader.ERR).u16le(errno).string('#').paddedString(sqlState, 5).string(message).toBuffer();
}

export function buildEof(): Buffer {
  return new PacketWriter().u8(ResponseHeader.EOF).u16le(0).u16le(ServerStatus.AUTOCOMMIT).toBuffer();
}

export interface ResultColumn {
  name: string;
  type: ColumnType;
}

function columnDefinition(c: ResultColumn): Buffer {
  const numeric = c.type === ColumnType.LONGLONG;
  return new PacketWriter()
    .lenencString('def') // catalog
    .lenencString('') // schema
    .lenencString('') // table alias
    .lenencString('') // table
    .lenencString(c.name) // column alias
    .lenencString('') // column
    .lenencInt(0x0c) // length of the fixed fields that follow
    .u16le(numeric ? CHARSET_BINARY : CHARSET_UTF8MB4)
    .u32le(numeric ? 21 : 1024) // maximum display length
    .u8(c.type)
    .u16le(numeric ? 0x0080 /* BINARY */ : 0)
    .u8(0) // decimals
    .u16le(0) // unused
    .toBuffer();
}

/** The payloads of a whole text result set: column count, definitions, EOF, rows, EOF. */
export function buildResultSet(columns: readonly ResultColumn[], rows: readonly (string | null)[][]): Buffer[] {
  const out = [new PacketWriter().lenencInt(columns.length).toBuffer(), ...columns.map(columnDefinition), buildEof()];
  for (const row of rows) {
    const w = new PacketWriter();
    for (const value of row) {
      if (value === null) w.u8(0xfb);
      else w.lenencString(value);
    }
    out.push(w.toBuffer());
  }
  out.push(buildEof());
  return out;
}
