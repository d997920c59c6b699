import mysql from 'mysql2/promise';
import { connectionFailure } from '../preflight.js';
import type { BinlogFile, BinlogSource, BinlogStream, ServerPosition } from '../ports/binlog-source.js';
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
}

/**
 * BinlogSource on a live MariaDB/MySQL server: SQL through mysql2 for the questions, and the
 * project's own replication client for the dump (it yields each event's exact bytes).
 */
export class ServerBinlogSource implements BinlogSource {
  private conn: mysql.Connection | undefined;

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
    const s = await openBinlogStream({
      host: this.opts.host,
      port: this.opts.port,
      user: this.opts.user,
      password: this.opts.password,
      serverId: this.opts.serverId,
      start: { file: from.file, position: from.pos },
      heartbeatMs: this.opts.heartbeatMs,
      highWaterMarkBytes: this.opts.readAheadBytes ?? 2 * 1024 * 1024,
    });
    return {
      [Symbol.asyncIterator]: () => s,
      close: async () => s.close(),
    };
  }

  async setReadOnly(): Promise<void> {
    await this.sql('SET GLOBAL read_only = ON');
  }

  async close(): Promise<void> {
    const c = this.conn;
    this.conn = undefined;
    await c?.end().catch(() => c.destroy());
  }
}
