/**
 * One client connection to the fake primary: the connection phase, then commands until COM_QUIT,
 * a binlog dump's end or a dropped connection. Statements are answered by QueryResponder, the dump
 * by DumpSender.
 * https://mariadb.com/kb/en/2-text-protocol/ (command phase)
 */
import type { Socket } from 'node:net';
import type { Logger } from '../log.js';
import type { ObjectStore } from '../ports/object-store.js';
import { Command } from '../protocol/commands.js';
import { parseMariaGtidList, type MariaGtid } from '../protocol/gtid.js';
import { PacketStream } from '../protocol/packet-stream.js';
import { ChunkReader } from './chunk-reader.js';
import { parseBinlogDump, parseRegisterSlave, ServeCommand } from './client-commands.js';
import { DumpSender, type DumpResult, type DumpSession } from './dump-sender.js';
import { PacketSink } from './packet-sink.js';
import { QueryResponder, type SystemVariables } from './query-responder.js';
import { buildErr, buildOk, buildResultSet } from './responses.js';
import { ServerErrorCode } from '../protocol/server-packets.js';
import { acceptClient } from './server-handshake.js';
import type { Timeline } from './timeline.js';

export interface SessionContext {
  objects: ObjectStore;
  loadTimeline: () => Promise<Timeline>;
  user: string;
  password: string;
  serverId: number;
  /** Sent in the handshake (`5.5.5-` prefixed) and returned by VERSION(). */
  version: string;
  system: SystemVariables;
  stopAt?: MariaGtid[];
  follow: boolean;
  followPollMs: number;
  readAheadChunks: number;
  readAheadBytes: number;
  /** Connection phase and command read limit. */
  handshakeTimeoutMs: number;
  log: Logger;
  /** Told how each dump ended. */
  onDump?: (result: DumpResult) => void;
}

function textOf(value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined;
  return String(value);
}

/** What the replica set before COM_BINLOG_DUMP, read from its user variables. */
function dumpSession(responder: QueryResponder): DumpSession {
  const checksum = textOf(responder.variable('master_binlog_checksum'));
  const heartbeatNs = Number(textOf(responder.variable('master_heartbeat_period')) ?? 0);
  const connect = textOf(responder.variable('slave_connect_state'));
  const until = textOf(responder.variable('slave_until_gtid'));
  return {
    checksumAtConnect: checksum === undefined ? undefined : checksum.toUpperCase() === 'CRC32' ? 'CRC32' : 'NONE',
    heartbeatPeriodMs: Number.isFinite(heartbeatNs) && heartbeatNs > 0 ? Math.max(1, Math.round(heartbeatNs / 1e6)) : 0,
    connectState: connect === undefined ? null : parseMariaGtidList(connect),
    until: until === undefined ? undefined : parseMariaGtidList(until),
  };
}

export class Session {
  private dump: DumpSender | undefined;
  private closed = false;
  private readonly stream: PacketStream;
  private readonly target: string;

  constructor(
    private readonly socket: Socket,
    readonly connectionId: number,
    private readonly ctx: SessionContext,
  ) {
    this.target = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    socket.setNoDelay(true);
    this.stream = new PacketStream(socket, { target: this.target, maxPacketBytes: 16 * 1024 * 1024 });
    socket.once('close', () => {
      this.closed = true;
    });
  }

  /** Closes the connection (server shutdown); a running dump stops at its next event. */
  close(): void {
    this.dump?.stop();
    this.socket.destroy();
  }

  /** Serves the connection to its end. Never rejects. */
  async run(): Promise<void> {
    const log = this.ctx.log.child({ connection: this.connectionId, client: this.target });
    try {
      const auth = await acceptClient(this.stream, {
        user: this.ctx.user,
        password: this.ctx.password,
        serverVersion: `5.5.5-${this.ctx.version}`,
        connectionId: this.connectionId,
        clientHost: this.socket.remoteAddress ?? 'unknown',
        timeoutMs: this.ctx.handshakeTimeoutMs,
      });
      if (!auth.ok) {
        log.warn({ user: auth.user }, `access denied for '${auth.user}': ${auth.reason}`);
        this.stream.end();
        return;
      }
      log.debug({ user: auth.response.user }, 'client authenticated');
      const responder = new QueryResponder(this.ctx.system, this.ctx.version);
      while (!this.closed) {
        this.stream.resetSequence();
        const payload = await this.stream.read('command');
        const command = payload[0];
        if (command === Command.COM_QUERY) {
          const sql = payload.subarray(1).toString('utf8');
          const answer = responder.answer(sql, Date.now());
          log.debug({ sql, answer: answer.kind }, 'query');
          if (answer.kind === 'ok') this.stream.write(buildOk());
          else if (answer.kind === 'error') {
            log.warn({ sql }, answer.message);
            this.stream.write(buildErr(answer.errno, answer.sqlState, answer.message));
          } else for (const p of buildResultSet(answer.columns, answer.rows)) this.stream.write(p);
        } else if (command === Command.COM_REGISTER_SLAVE) {
          const r = parseRegisterSlave(payload);
          log.info({ replicaServerId: r.serverId, host: r.host, port: r.port }, `replica server_id ${r.serverId} registered`);
          this.stream.write(buildOk());
        } else if (command === Command.COM_BINLOG_DUMP) {
          await this.runDump(payload, responder, log);
          return;
        } else if (command === Command.COM_QUIT) {
          this.stream.end();
          return;
        } else if (command === ServeCommand.COM_PING || command === ServeCommand.COM_INIT_DB) {
          this.stream.write(buildOk());
        } else if (command === Command.COM_BINLOG_DUMP_GTID) {
          this.stream.write(buildErr(ServerErrorCode.ER_MASTER_FATAL_ERROR_READING_BINLOG, 'HY000', 'squirrel serve speaks MariaDB replication only: COM_BINLOG_DUMP_GTID is not supported'));
        } else {
          this.stream.write(buildErr(ServerErrorCode.ER_UNKNOWN_COM_ERROR, '08S01', `Unknown command 0x${(command ?? 0).toString(16)}`));
        }
      }
    } catch (err) {
      if (!this.closed) log.warn({ err: (err as Error).message }, 'connection ended with an error');
    } finally {
      if (!this.socket.destroyed) this.socket.end();
    }
  }

  private async runDump(payload: Buffer, responder: QueryResponder, log: SessionContext['log']): Promise<void> {
    const request = parseBinlogDump(payload);
    let session: DumpSession;
    const sink = new PacketSink(this.socket, 1);
    try {
      session = dumpSession(responder);
    } catch (err) {
      sink.packet(buildErr(ServerErrorCode.ER_MASTER_FATAL_ERROR_READING_BINLOG, 'HY000', `squirrel: ${(err as Error).message}`));
      await sink.flush();
      return;
    }
    log.info(
      { file: request.file, position: request.position, flags: request.flags, replicaServerId: request.serverId, gtid: session.connectState, until: session.until },
      session.connectState === null ? `binlog dump from ${request.file || '(first file)'}:${request.position}` : `binlog dump from gtid '${responder.variable('slave_connect_state') ?? ''}'`,
    );
    const reader = new ChunkReader(this.ctx.objects, {
      readAheadChunks: this.ctx.readAheadChunks,
      readAheadBytes: this.ctx.readAheadBytes,
      log,
      stopped: () => this.closed,
    });
    this.dump = new DumpSender({
      objects: this.ctx.objects,
      reader,
      sink,
      request,
      session,
      loadTimeline: this.ctx.loadTimeline,
      serverId: this.ctx.serverId,
      ...(this.ctx.stopAt ? { stopAt: this.ctx.stopAt } : {}),
      follow: this.ctx.follow,
      followPollMs: this.ctx.followPollMs,
      log,
    });
    const result = await this.dump.run();
    log.info({ ...result }, `binlog dump ended: ${result.outcome}`);
    this.ctx.onDump?.(result);
  }
}
