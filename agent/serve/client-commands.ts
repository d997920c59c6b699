/**
 * The commands a replica sends, as the fake primary reads them. The builders of the same commands
 * (the replica side) and the main command codes are in agent/protocol/commands.ts.
 * https://mariadb.com/kb/en/com_register_slave/ https://mariadb.com/kb/en/com_binlog_dump/
 * https://mariadb.com/kb/en/com_ping/ https://mariadb.com/kb/en/com_init_db/
 */
import { PacketReader } from '../protocol/packet-reader.js';

/** Command bytes the fake primary also answers, besides those in protocol/commands.ts `Command`. */
export enum ServeCommand {
  /** Change the default database: answered OK, the fake primary has none. */
  COM_INIT_DB = 0x02,
  /** Is the server alive: OK. */
  COM_PING = 0x0e,
}

export interface RegisterSlave {
  serverId: number;
  host: string;
  user: string;
  port: number;
}

function shortString(r: PacketReader, field: string): string {
  return r.fixedString(r.u8(`${field} length`), field);
}

export function parseRegisterSlave(payload: Buffer): RegisterSlave {
  const r = new PacketReader(payload, 'COM_REGISTER_SLAVE');
  r.u8('command');
  const serverId = r.u32le('server id');
  const host = shortString(r, 'host');
  const user = shortString(r, 'user');
  shortString(r, 'password');
  const port = r.u16le('port');
  // replication rank and master id follow; servers ignore them and so does the fake primary
  return { serverId, host, user, port };
}

export interface BinlogDumpRequest {
  position: number;
  flags: number;
  serverId: number;
  /** '' to let the primary choose (GTID mode, or the first file). */
  file: string;
}

export function parseBinlogDump(payload: Buffer): BinlogDumpRequest {
  const r = new PacketReader(payload, 'COM_BINLOG_DUMP');
  r.u8('command');
  const position = r.u32le('binlog position');
  const flags = r.u16le('flags');
  const serverId = r.u32le('server id');
  const file = r.rest().toString('utf8').replace(/\0+$/, ''); // to the end of the packet; some clients add a NUL
  return { position, flags, serverId, file };
}
