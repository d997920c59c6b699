/**
 * Client commands used to set up replication: COM_QUERY (text result sets, values as strings),
 * COM_REGISTER_SLAVE, COM_BINLOG_DUMP and MySQL's COM_BINLOG_DUMP_GTID.
 * https://mariadb.com/kb/en/com_query/ https://mariadb.com/kb/en/result-set-packets/
 * https://mariadb.com/kb/en/com_register_slave/ https://mariadb.com/kb/en/com_binlog_dump/
 * https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_binlog_dump_gtid.html
 */
import { ProtocolError, ServerError } from '../errors.js';
import type { MysqlGtidSet } from './gtid.js';
import { PacketReader } from './packet-reader.js';
import { PacketWriter } from './packet-writer.js';
import type { PacketStream } from './packet-stream.js';
import { isEofPacket, isErrPacket, isOkPacket, parseErrPacket, parseOkPacket } from './server-packets.js';

/** Command bytes. https://mariadb.com/kb/en/2-text-protocol/ */
export enum Command {
  /** Close the connection. */
  COM_QUIT = 0x01,
  /** Run one SQL statement, text protocol. */
  COM_QUERY = 0x03,
  /** Stream binlog events from a file and position (or a MariaDB GTID set in @slave_connect_state). */
  COM_BINLOG_DUMP = 0x12,
  /** Announce this connection as a replica (shown by SHOW SLAVE HOSTS). */
  COM_REGISTER_SLAVE = 0x15,
  /** MySQL: stream binlog events after a GTID set. */
  COM_BINLOG_DUMP_GTID = 0x1e,
}

/** Flags of COM_BINLOG_DUMP / COM_BINLOG_DUMP_GTID. */
export enum BinlogDumpFlag {
  /** End the dump with an EOF packet at the end of the binlog instead of waiting for more. */
  NON_BLOCK = 0x01,
  /** MariaDB: send ANNOTATE_ROWS events (else a GTID-capable replica gets a hole where they were). */
  SEND_ANNOTATE_ROWS_EVENT = 0x02,
  /** MySQL COM_BINLOG_DUMP_GTID: the GTID set data follows. */
  THROUGH_GTID = 0x04,
}

/** First byte of a semi-sync header (before each dump event) and of a replica's reply. */
export const SEMI_SYNC_MAGIC = 0xef;

/**
 * The semi-sync reply (MariaDB sql/semisync_slave.cc): the magic byte, the 8-byte little-endian
 * position just past the acknowledged event, and the binlog file name (no terminator).
 */
export function buildSemiSyncAck(file: string, position: number): Buffer {
  if (!Number.isSafeInteger(position) || position < 4) {
    throw new ProtocolError(`semi-sync reply position must be an integer of at least 4, got ${position}`, { what: 'semi-sync reply' });
  }
  if (file === '') throw new ProtocolError('semi-sync reply names no file', { what: 'semi-sync reply' });
  return new PacketWriter().u8(SEMI_SYNC_MAGIC).u64le(position).string(file).toBuffer();
}

export function buildQuery(sql: string): Buffer {
  return new PacketWriter().u8(Command.COM_QUERY).string(sql).toBuffer();
}

export function buildQuit(): Buffer {
  return new PacketWriter().u8(Command.COM_QUIT).toBuffer();
}

export interface RegisterSlaveInput {
  serverId: number;
  /** report_host; '' when not set. */
  host?: string;
  user?: string;
  password?: string;
  port?: number;
  /** Master server id; servers ignore it. @default 0 */
  masterId?: number;
}

function shortString(w: PacketWriter, s: string, field: string): void {
  const b = Buffer.from(s, 'utf8');
  if (b.length > 255) throw new ProtocolError(`${field} is longer than 255 bytes`, { what: 'COM_REGISTER_SLAVE' });
  w.u8(b.length).bytes(b);
}

export function buildRegisterSlave(input: RegisterSlaveInput): Buffer {
  const w = new PacketWriter().u8(Command.COM_REGISTER_SLAVE).u32le(input.serverId);
  shortString(w, input.host ?? '', 'host');
  shortString(w, input.user ?? '', 'user');
  shortString(w, input.password ?? '', 'password');
  return w
    .u16le(input.port ?? 0)
    .u32le(0) // replication rank: unused
    .u32le(input.masterId ?? 0)
    .toBuffer();
}

export interface BinlogDumpInput {
  /** '' lets the server choose (first file, or the file holding the GTID position on MariaDB). */
  file: string;
  position: number;
  flags: number;
  serverId: number;
}

export function buildBinlogDump(input: BinlogDumpInput): Buffer {
  if (input.position > 0xffffffff) {
    throw new ProtocolError(`binlog position ${input.position} does not fit COM_BINLOG_DUMP's 4 bytes`, { what: 'COM_BINLOG_DUMP' });
  }
  return new PacketWriter()
    .u8(Command.COM_BINLOG_DUMP)
    .u32le(input.position)
    .u16le(input.flags)
    .u32le(input.serverId)
    .string(input.file) // runs to the end of the packet, no terminator
    .toBuffer();
}

/**
 * The GTID set encoding of COM_BINLOG_DUMP_GTID (MySQL's Gtid_set::encode): u64 sid count, then per
 * sid its 16 uuid bytes, a u64 interval count and each interval as u64 start, u64 end (exclusive).
 */
export function encodeMysqlGtidSet(set: MysqlGtidSet): Buffer {
  const w = new PacketWriter().u64le(set.length);
  for (const { sid, intervals } of set) {
    w.bytes(Buffer.from(sid.replace(/-/g, ''), 'hex')).u64le(intervals.length);
    for (const iv of intervals) w.u64le(iv.start).u64le(iv.end);
  }
  return w.toBuffer();
}

export interface BinlogDumpGtidInput {
  /** THROUGH_GTID is added. */
  flags: number;
  serverId: number;
  /** Usually '' and 4: the server finds the start from the GTID set. */
  file: string;
  position: number;
  /** The transactions the replica already has. */
  gtidSet: MysqlGtidSet;
}

export function buildBinlogDumpGtid(input: BinlogDumpGtidInput): Buffer {
  const data = encodeMysqlGtidSet(input.gtidSet);
  const file = Buffer.from(input.file, 'utf8');
  return new PacketWriter()
    .u8(Command.COM_BINLOG_DUMP_GTID)
    .u16le(input.flags | BinlogDumpFlag.THROUGH_GTID)
    .u32le(input.serverId)
    .u32le(file.length)
    .bytes(file)
    .u64le(input.position)
    .u32le(data.length)
    .bytes(data)
    .toBuffer();
}

/** A text result set: column names and rows of strings (NULL as null), or an OK for statements. */
export interface QueryResult {
  columns: string[];
  rows: (string | null)[][];
  affectedRows: number;
}

/** Reads a column definition (protocol 4.1) and returns the column's name (its alias). */
export function parseColumnName(payload: Buffer): string {
  const r = new PacketReader(payload, 'column definition');
  r.lenencString('catalog');
  r.lenencString('schema');
  r.lenencString('table alias');
  r.lenencString('table');
  return r.lenencString('column alias');
}

/** Reads one text-protocol row: each value a length-encoded string, 0xFB for NULL. */
export function parseTextRow(payload: Buffer, columnCount: number): (string | null)[] {
  const r = new PacketReader(payload, 'result set row');
  const row: (string | null)[] = [];
  for (let i = 0; i < columnCount; i++) {
    if (payload[r.offset] === 0xfb) {
      r.skip(1, 'NULL');
      row.push(null);
    } else {
      row.push(r.lenencString(`column ${i}`));
    }
  }
  return row;
}

/**
 * Runs one statement with COM_QUERY and reads the whole answer. An ERR becomes a ServerError
 * naming the statement (truncated). Meant for the few small queries of replication setup.
 */
export async function runQuery(stream: PacketStream, sql: string, target: string, timeoutMs?: number): Promise<QueryResult> {
  stream.resetSequence();
  stream.write(buildQuery(sql));
  const operation = `query '${sql.length > 80 ? `${sql.slice(0, 77)}...` : sql}'`;
  const fail = (payload: Buffer) => {
    const e = parseErrPacket(payload);
    return new ServerError(target, operation, e.errno, e.sqlState, e.message);
  };
  const first = await stream.read('query response', timeoutMs);
  if (isErrPacket(first)) throw fail(first);
  if (isOkPacket(first)) return { columns: [], rows: [], affectedRows: parseOkPacket(first).affectedRows };
  if (first[0] === 0xfb) throw new ProtocolError('server asked for LOCAL INFILE data', { what: 'query response' });
  const columnCount = new PacketReader(first, 'column count').lenencInt('column count');
  const columns: string[] = [];
  for (let i = 0; i < columnCount; i++) columns.push(parseColumnName(await stream.read('column definition', timeoutMs)));
  const eof = await stream.read('column definitions EOF', timeoutMs);
  if (!isEofPacket(eof)) throw new ProtocolError('expected EOF after column definitions', { what: 'query response' });
  const rows: (string | null)[][] = [];
  for (;;) {
    const payload = await stream.read('result set row', timeoutMs);
    if (isEofPacket(payload)) break;
    if (isErrPacket(payload)) throw fail(payload);
    rows.push(parseTextRow(payload, columnCount));
  }
  return { columns, rows, affectedRows: 0 };
}
