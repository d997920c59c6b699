import mysql from 'mysql2/promise';
import { ServerConfigError } from '../errors.js';
import { connectionFailure } from '../preflight.js';
import type { BinlogFile, BinlogSource, BinlogStream, EndedSession, PrimarySemiSync, ServerPosition } from '../ports/binlog-source.js';
import { openBinlogStream } from '../protocol/replication-client.js';

export interface ServerSourceOptions {
  host: string;
  port: number;
  user: string;
  password: string;
  /** server_id the agent registers with as a replica. */
  serverId: number;
  heartbeatMs: number;
  /** Bytes read from the server ahead of the chunker before the socket is paused. @default 2 MiB */
  readAheadBytes?: number;
  /** Dump as a semi-synchronous replica (lossless mode): events may ask for `ack`. @default false */
  semiSync?: boolean;
  /**
   * With `semiSync`: when the primary does not run semi-sync, stream asynchronously instead of
   * failing, telling this callback each time a dump opens so. Unset: the dump fails (ServerConfigError).
   */
  onSemiSyncUnavailable?: (err: ServerConfigError) => void;
}

/** Seconds the fence's `SET GLOBAL read_only` waits for a lock before it fails (and sessions are ended). */
const FENCE_LOCK_WAIT_SECONDS = 3;

/** PROCESSLIST commands of the server's own threads and of its replica threads: a fence leaves them. */
const SERVER_THREAD_COMMANDS = ['Daemon', 'Slave_IO', 'Slave_SQL', 'Slave_worker'];

/** https://mariadb.com/kb/en/mariadb-error-codes/ 1094: unknown thread id (KILL). */
const ER_NO_SUCH_THREAD = 1094;

function isConnectionLost(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    const code = (e as NodeJS.ErrnoException).code;
    if ((e as { fatal?: boolean }).fatal || code === 'PROTOCOL_CONNECTION_LOST' || code === 'ECONNRESET') return true;
  }
  return false;
}

/**
 * BinlogSource on a live MariaDB/MySQL server: SQL through mysql2 for the questions, and the
 * project's own replication client for the dump (it yields each event's exact bytes).
 */
export class ServerBinlogSource implements BinlogSource {
  private conn: mysql.Connection | undefined;
  /**
   * The fence's own connection: the shared one may be busy with (or stuck on) a question when the
   * fence comes, and the fence must not queue behind it.
   */
  private fenceConn: mysql.Connection | undefined;

  constructor(private readonly opts: ServerSourceOptions) {}

  private async sql<T extends mysql.RowDataPacket[]>(statement: string, values: unknown[] = []): Promise<T> {
    if (!this.conn) {
      try {
        this.conn = await mysql.createConnection({ host: this.opts.host, port: this.opts.port, user: this.opts.user, password: this.opts.password, connectTimeout: 10_000 });
        this.conn.on('error', () => (this.conn = undefined));
      } catch (err) {
        throw connectionFailure(err, this.opts);
      }
    }
    try {
      const [rows] = await this.conn.query<T>(statement, values);
      return rows;
    } catch (err) {
      const lost = (err as { fatal?: boolean }).fatal;
      if (lost) {
        this.conn?.destroy();
        this.conn = undefined;
      }
      throw connectionFailure(err, this.opts);
    }
  }

  async listBinlogs(): Promise<BinlogFile[]> {
    const rows = await this.sql<mysql.RowDataPacket[]>('SHOW BINARY LOGS');
    return rows.map((r) => ({ file: String(r.Log_name), sizeBytes: Number(r.File_size) }));
  }

  async currentPosition(): Promise<ServerPosition> {
    const [status] = await this.sql<mysql.RowDataPacket[]>('SHOW MASTER STATUS');
    if (!status) throw new Error('SHOW MASTER STATUS returned nothing: binary logging is off');
    // each flavour names its GTID position differently; the other name is an unknown variable
    const [gtid] = await this.sql<mysql.RowDataPacket[]>('SELECT @@global.gtid_binlog_pos AS gtid').catch(() =>
      this.sql<mysql.RowDataPacket[]>('SELECT @@global.gtid_executed AS gtid'),
    );
    return { file: String(status.File), pos: Number(status.Position), gtid: String(gtid?.gtid ?? '') };
  }

  async gtidPositionAt(at: { file: string; pos: number }): Promise<string | undefined> {
    const rows = await this.sql<mysql.RowDataPacket[]>('SELECT BINLOG_GTID_POS(?, ?) AS pos', [at.file, at.pos]).catch((err: unknown) => {
      if (/BINLOG_GTID_POS does not exist|ER_SP_DOES_NOT_EXIST/i.test(String((err as Error)?.message))) return []; // MySQL
      throw err;
    });
    const pos = rows[0]?.pos;
    return pos === null || pos === undefined ? undefined : String(pos);
  }

  async stream(from: { file: string; pos: number }): Promise<BinlogStream> {
    const open = (semiSync: boolean) =>
      openBinlogStream({
        host: this.opts.host,
        port: this.opts.port,
        user: this.opts.user,
        password: this.opts.password,
        serverId: this.opts.serverId,
        start: { file: from.file, position: from.pos },
        heartbeatMs: this.opts.heartbeatMs,
        highWaterMarkBytes: this.opts.readAheadBytes ?? 2 * 1024 * 1024,
        semiSync,
      });
    const semiSync = this.opts.semiSync ?? false;
    const fallback = this.opts.onSemiSyncUnavailable;
    const s = await open(semiSync).catch((err: unknown) => {
      if (!(semiSync && fallback && err instanceof ServerConfigError)) throw err;
      fallback(err);
      return open(false);
    });
    return {
      [Symbol.asyncIterator]: () => s,
      close: async () => s.close(),
      ack: (file, end) => s.ack(file, end),
      hasBuffered: () => s.hasBuffered,
    };
  }

  private async fenceSql(statement: string, values: unknown[] = []): Promise<mysql.RowDataPacket[]> {
    if (!this.fenceConn) {
      try {
        const conn = await mysql.createConnection({ host: this.opts.host, port: this.opts.port, user: this.opts.user, password: this.opts.password, connectTimeout: 5_000 });
        conn.on('error', () => (this.fenceConn = undefined));
        // a write holding a metadata lock would otherwise hold SET GLOBAL read_only for up to a year
        await conn.query(`SET SESSION lock_wait_timeout = ${FENCE_LOCK_WAIT_SECONDS}`);
        this.fenceConn = conn;
      } catch (err) {
        throw connectionFailure(err, this.opts);
      }
    }
    try {
      const [rows] = await this.fenceConn.query<mysql.RowDataPacket[]>(statement, values);
      return rows;
    } catch (err) {
      if ((err as { fatal?: boolean }).fatal) {
        this.fenceConn?.destroy();
        this.fenceConn = undefined;
      }
      throw connectionFailure(err, this.opts);
    }
  }

  async semiSyncStatus(): Promise<PrimarySemiSync> {
    // MariaDB and MySQL before 8.0.26 say master; MySQL's newer plugin says source
    const vars = await this.sql("SHOW GLOBAL VARIABLES WHERE Variable_name IN ('rpl_semi_sync_master_enabled', 'rpl_semi_sync_source_enabled')");
    const status = await this.sql("SHOW GLOBAL STATUS WHERE Variable_name REGEXP '^Rpl_semi_sync_(master|source)_(status|no_times|clients)$'");
    const value = (rows: mysql.RowDataPacket[], what: string): string | undefined =>
      rows.find((r) => String(r.Variable_name).toLowerCase().replace('_source_', '_master_').endsWith(`_master_${what}`))?.Value as string | undefined;
    const on = (v: string | undefined) => v !== undefined && ['ON', '1'].includes(String(v).toUpperCase());
    return {
      enabled: on(value(vars, 'enabled')),
      active: on(value(status, 'status')),
      fallbacks: Number(value(status, 'no_times') ?? 0),
      clients: Number(value(status, 'clients') ?? 0),
    };
  }

  async setReadOnly(): Promise<void> {
    await this.fenceSql('SET GLOBAL read_only = ON');
  }

  async shutdown(): Promise<void> {
    try {
      await this.fenceSql('SHUTDOWN');
    } catch (err) {
      // the server may close this very connection as it goes down: that is the statement's success
      if (!isConnectionLost(err)) throw err;
    } finally {
      this.fenceConn?.destroy();
      this.fenceConn = undefined;
    }
  }

  async endClientSessions(): Promise<EndedSession[]> {
    const rows = await this.fenceSql(
      `SELECT ID AS id, USER AS user, HOST AS host, COMMAND AS command FROM information_schema.PROCESSLIST
        WHERE ID <> CONNECTION_ID() AND USER NOT IN ('system user', 'event_scheduler') AND COMMAND NOT IN (${SERVER_THREAD_COMMANDS.map(() => '?').join(', ')})`,
      SERVER_THREAD_COMMANDS,
    );
    const ended: EndedSession[] = [];
    for (const r of rows) {
      try {
        await this.fenceSql(`KILL CONNECTION ${Number(r.id)}`);
        ended.push({ id: Number(r.id), user: String(r.user), host: String(r.host ?? ''), command: String(r.command) });
      } catch (err) {
        // gone on its own meanwhile (ER_NO_SUCH_THREAD): nothing to end
        if ((err as { cause?: { errno?: number } }).cause?.errno !== ER_NO_SUCH_THREAD && (err as { errno?: number }).errno !== ER_NO_SUCH_THREAD) throw err;
      }
    }
    return ended;
  }

  async close(): Promise<void> {
    const c = this.conn;
    this.conn = undefined;
    const f = this.fenceConn;
    this.fenceConn = undefined;
    f?.destroy();
    await c?.end().catch(() => c.destroy());
  }
}
