/**
 * The replica side of the replication protocol: connect as a replica, set the session variables
 * the primary reads when it starts a dump, register, and start the dump by file/position or by
 * GTID. Returns the raw event stream (BinlogStream), exact bytes included.
 * https://mariadb.com/kb/en/5-replica-registration/ (mariadb-docs replication-protocol/5-replica-registration.md)
 *
 * MariaDB preamble, and why each line is there (sql/sql_repl.cc):
 * - `SET @master_binlog_checksum=@@global.binlog_checksum`: without it a server that writes CRC32
 *   refuses the dump (error 1236, "Slave can not handle replication events with the checksum…").
 * - `SET @mariadb_slave_capability=4` (MARIA_SLAVE_CAPABILITY_GTID): else GTID events arrive
 *   rewritten as BEGIN query events and GTID_LIST/BINLOG_CHECKPOINT events are replaced by dummies.
 * - `SET @master_heartbeat_period=<ns>`: heartbeats while the binlog is idle.
 * - GTID start: `SET @slave_connect_state='<list>'`, `SET @slave_gtid_strict_mode=1`. With that
 *   variable set, the server ignores the file and position in COM_BINLOG_DUMP: it picks the file
 *   from the GTID_LIST events at the start of each binlog, starts at its offset 4 and skips event
 *   groups up to the requested GTIDs. We send file '' and position 4. The empty list '' means
 *   "from the beginning": the oldest binlog whose GTID_LIST names no domain (the very first binlog).
 *   A GTID dump from a non-empty position therefore has a hole after the file's first events, and
 *   its first FORMAT_DESCRIPTION may be rewritten (see dump-decoder.ts): consumers that need whole
 *   files resume by file and position.
 * The dump always asks for ANNOTATE_ROWS events: otherwise a GTID-capable replica gets a hole
 * where each one was, and the file could not be rebuilt byte for byte.
 *
 * MySQL (not verified against a live server here): the same checksum variable, then
 * COM_BINLOG_DUMP_GTID with the encoded GTID set when starting by GTID set.
 */
import { ProtocolError, ServerConfigError, ServerError } from '../errors.js';
import { BinlogStream } from './binlog-stream.js';
import { BinlogDumpFlag, buildBinlogDump, buildBinlogDumpGtid, buildRegisterSlave, type QueryResult } from './commands.js';
import { ServerConnection, type ConnectOptions } from './connection.js';
import { DumpDecoder, type StreamChecksum } from './dump-decoder.js';
import { formatMariaGtidList, parseMariaGtidList, parseMysqlGtidSet } from './gtid.js';
import { isErrPacket, isOkPacket, parseErrPacket } from './server-packets.js';

/** Where a dump starts. */
export type DumpStart =
  /** A file and the offset of an event boundary in it (4 = the file's first event). */
  | { file: string; position: number }
  /** MariaDB: after the GTIDs of this position (`domain-server-seq,…`; '' = the oldest binlog). */
  | { gtid: string }
  /** MySQL: everything not in this GTID set (`uuid:1-5,…`). */
  | { mysqlGtidSet: string };

export interface DumpOptions {
  /** server_id this replica registers with; unique among the primary's replicas, not the primary's own. */
  serverId: number;
  start: DumpStart;
  /** Heartbeat period asked of the primary; 0 disables heartbeats. @default 15000 */
  heartbeatMs?: number;
  /** A dump silent this long is dead (ConnectionError). @default 3 × heartbeatMs, or none without heartbeats */
  idleTimeoutMs?: number;
  /** End with EOF at the current end of the binlog instead of waiting for new events. @default false */
  nonBlocking?: boolean;
  /** Shown in SHOW SLAVE HOSTS. @default 'squirrel' */
  reportHost?: string;
  /**
   * Dump as a semi-synchronous replica (`SET @rpl_semi_sync_slave=1`): events carry the semi-sync
   * header and the primary waits for `BinlogStream.ack`. Fails with ServerConfigError when the
   * primary has `rpl_semi_sync_master_enabled=OFF`. @default false
   */
  semiSync?: boolean;
}

export type OpenBinlogStreamOptions = ConnectOptions & DumpOptions;

const DEFAULT_HEARTBEAT_MS = 15_000;

function describeStart(start: DumpStart): string {
  if ('file' in start) return `${start.file}:${start.position}`;
  if ('gtid' in start) return `gtid '${start.gtid}'`;
  return `gtid set '${start.mysqlGtidSet}'`;
}

/** One replica connection: setup queries, then at most one dump. */
export class ReplicationClient {
  private dumping = false;

  private constructor(private readonly conn: ServerConnection) {}

  static async connect(opts: ConnectOptions): Promise<ReplicationClient> {
    return new ReplicationClient(await ServerConnection.open(opts));
  }

  get serverVersion(): string {
    return this.conn.handshake.serverVersion;
  }

  get isMariaDb(): boolean {
    return this.conn.isMariaDb;
  }

  /** Runs a statement before the dump (SHOW, SELECT, SET). */
  async query(sql: string): Promise<QueryResult> {
    if (this.dumping) throw new ProtocolError('no queries on a connection that is dumping the binlog', { what: 'COM_QUERY' });
    return this.conn.query(sql);
  }

  /**
   * Runs the preamble, registers, and starts the dump. The connection then belongs to the
   * returned stream: closing the stream closes it.
   */
  async startDump(opts: DumpOptions): Promise<BinlogStream> {
    if (this.dumping) throw new ProtocolError('this connection is already dumping the binlog', { what: 'COM_BINLOG_DUMP' });
    if (!Number.isInteger(opts.serverId) || opts.serverId < 1 || opts.serverId > 0xffffffff) {
      throw new ProtocolError(`replica server_id must be 1..4294967295, got ${opts.serverId}`, { what: 'COM_REGISTER_SLAVE' });
    }
    const start = opts.start;
    if ('file' in start && (!Number.isInteger(start.position) || start.position < 4)) {
      throw new ProtocolError(`binlog position must be an integer of at least 4, got ${start.position}`, { what: 'COM_BINLOG_DUMP' });
    }
    if (('gtid' in start && !this.isMariaDb) || ('mysqlGtidSet' in start && this.isMariaDb)) {
      throw new ProtocolError(`a ${'gtid' in start ? 'MariaDB GTID position' : 'MySQL GTID set'} does not fit server ${this.serverVersion}`, {
        what: 'COM_BINLOG_DUMP',
      });
    }
    // Validate the GTID text before the server sees it (also keeps it out of SQL unescaped).
    const mariaGtid = 'gtid' in start ? formatMariaGtidList(parseMariaGtidList(start.gtid)) : undefined;
    const mysqlGtid = 'mysqlGtidSet' in start ? parseMysqlGtidSet(start.mysqlGtidSet) : undefined;
    const heartbeatMs = opts.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;

    await this.conn.query('SET @master_binlog_checksum = @@global.binlog_checksum');
    // MySQL 8.0.26+ replicas use the new name; older names stay accepted. Harmless elsewhere.
    if (!this.isMariaDb) await this.conn.query('SET @source_binlog_checksum = @@global.binlog_checksum');
    const checksum = await this.checksumAtConnect();
    if (this.isMariaDb) await this.conn.query('SET @mariadb_slave_capability = 4');
    if (heartbeatMs > 0) await this.conn.query(`SET @master_heartbeat_period = ${BigInt(Math.round(heartbeatMs)) * 1_000_000n}`);
    if (opts.semiSync) await this.enableSemiSync();
    if (mariaGtid !== undefined) {
      await this.conn.query(`SET @slave_connect_state = '${mariaGtid}'`);
      await this.conn.query('SET @slave_gtid_strict_mode = 1');
      await this.conn.query('SET @slave_gtid_ignore_duplicates = 0');
    }

    this.conn.send(buildRegisterSlave({ serverId: opts.serverId, host: opts.reportHost ?? 'squirrel' }));
    const reply = await this.conn.read('COM_REGISTER_SLAVE response');
    if (isErrPacket(reply)) {
      const e = parseErrPacket(reply);
      throw new ServerError(this.conn.target, 'register as replica', e.errno, e.sqlState, e.message);
    }
    if (!isOkPacket(reply)) throw new ProtocolError('expected OK after COM_REGISTER_SLAVE', { what: 'COM_REGISTER_SLAVE' });

    const flags = BinlogDumpFlag.SEND_ANNOTATE_ROWS_EVENT | (opts.nonBlocking ? BinlogDumpFlag.NON_BLOCK : 0);
    const file = 'file' in start ? start.file : '';
    const position = 'file' in start ? start.position : 4;
    this.conn.send(
      mysqlGtid !== undefined
        ? buildBinlogDumpGtid({ flags, serverId: opts.serverId, file, position, gtidSet: mysqlGtid })
        : buildBinlogDump({ flags, serverId: opts.serverId, file, position }),
    );
    this.dumping = true;
    if (opts.semiSync) this.conn.packets.allowSequenceRestart();
    const gtidResume = (mariaGtid !== undefined && mariaGtid !== '') || (mysqlGtid !== undefined && mysqlGtid.length > 0);
    const decoder = new DumpDecoder(file, checksum, { firstFormatDescriptionRewritten: gtidResume, semiSync: opts.semiSync ?? false });
    const stream = new BinlogStream(this.conn, decoder, {
      startedFrom: describeStart(start),
      idleTimeoutMs: opts.idleTimeoutMs ?? (heartbeatMs > 0 ? heartbeatMs * 3 : undefined),
    });
    // The primary answers at once (fake ROTATE, or ERR for a purged start): fail here, not later.
    await stream.prefetch();
    return stream;
  }

  /** Closes the connection (and any dump on it). */
  close(): void {
    this.conn.close(!this.dumping);
  }

  /** Checks that the primary runs semi-sync, then asks for the semi-sync header on this dump. */
  private async enableSemiSync(): Promise<void> {
    const { rows } = await this.conn.query("SHOW GLOBAL VARIABLES LIKE 'rpl_semi_sync_master_enabled'");
    const value = rows[0]?.[1];
    if (value === undefined || value === null) {
      throw new ServerConfigError(this.conn.target, ['semi-sync is not available on this server (no rpl_semi_sync_master_enabled; MySQL needs the semisync source plugin)']);
    }
    if (String(value).toUpperCase() !== 'ON') {
      throw new ServerConfigError(this.conn.target, [
        'lossless mode needs semi-sync on the primary: set rpl_semi_sync_master_enabled=ON (and rpl_semi_sync_master_wait_point=AFTER_SYNC) in my.cnf or with SET GLOBAL',
      ]);
    }
    await this.conn.query('SET @rpl_semi_sync_slave = 1');
  }

  private async checksumAtConnect(): Promise<StreamChecksum> {
    const { rows } = await this.conn.query('SELECT @master_binlog_checksum');
    const value = rows[0]?.[0];
    if (value === 'CRC32') return 'CRC32';
    if (value === 'NONE' || value === null || value === undefined) return 'NONE';
    throw new ProtocolError(`unknown binlog_checksum '${value}'`, { what: 'SELECT @master_binlog_checksum' });
  }
}

/** Connects, authenticates and starts a dump: the one call the agent needs. */
export async function openBinlogStream(opts: OpenBinlogStreamOptions): Promise<BinlogStream> {
  const client = await ReplicationClient.connect(opts);
  try {
    return await client.startDump(opts);
  } catch (err) {
    client.close();
    throw err;
  }
}
