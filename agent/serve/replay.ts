/**
 * Replays the binlog into a running server by making it a replica of the fake primary: parallel
 * appliers (slave_parallel_mode=optimistic), then wait until the target is applied, or an error
 * shows in SHOW SLAVE STATUS (a damaged chunk is named there by the fake primary). On success the
 * server is left with no replication configured and its applier settings as they were;
 * @@gtid_slave_pos is the target.
 *
 * Where replay stops: a fake primary started here ends its binlog at the target itself (its own
 * stop point), and the replica runs without UNTIL: the replica's UNTIL master_gtid_pos stops its
 * appliers when the primary says the position is reached, and with parallel appliers MariaDB 10.11
 * then leaves a last XA COMMIT or XA ROLLBACK group unapplied (seen: "stopped at 0-1-48 … short of
 * 0-1-49"). A fake primary given by address is asked with START SLAVE UNTIL, as a real one would be.
 *
 * The server must not have the server_id of a server that wrote the binlog: a replica skips the
 * events carrying its own server_id (replicate_same_server_id=0).
 */
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { ReplayError } from '../errors.js';
import type { Logger } from '../log.js';
import { formatMariaGtidList, mariaGtidListCovers, parseMariaGtidList, type MariaGtid } from '../protocol/gtid.js';
import { sleep } from '../retry.js';
import { startFakePrimary, type FakePrimary, type FakePrimaryOptions } from './fake-primary.js';

/** What replay needs of the server: SQL as root (MariaDbServer fits). */
export interface ReplayServer {
  query<T = Record<string, unknown>[]>(sql: string): Promise<T>;
}

export interface ReplayOptions {
  server: ReplayServer;
  /** Names the server in errors, e.g. `127.0.0.1:3306`. */
  serverName: string;
  /**
   * The binlog to replay: a running fake primary (with the credentials it takes), or what to start
   * one with (it is started on 127.0.0.1 with a random password and stopped at the end).
   */
  primary: { host: string; port: number; serverId: number; user: string; password: string } | Omit<FakePrimaryOptions, 'user' | 'password' | 'log' | 'host' | 'port' | 'follow'>;
  /**
   * Stop after this GTID position (domain-server-seq[,...]): the whole position, every domain of
   * the binlog named (DESIGN.md invariant 7). A domain it leaves out is not replayed at all.
   */
  target: string;
  /** Set @@gtid_slave_pos first: where the server's data is (a base backup's position). Undefined: as it is. */
  startGtid?: string;
  /** @default os.availableParallelism() */
  parallelThreads?: number;
  /** slave_domain_parallel_threads: the most of them one domain may hold (0: all). @default as the server has it */
  domainParallelThreads?: number;
  /** @default 'optimistic' */
  parallelMode?: 'optimistic' | 'conservative' | 'aggressive' | 'minimal' | 'none';
  /** Give up (and stop the replica) after this long. @default no limit */
  timeoutMs?: number;
  /** How often SHOW SLAVE STATUS is read. @default 200 */
  pollMs?: number;
  log: Logger;
  /** Told the applied position at each poll. */
  onProgress?: (gtidSlavePos: string) => void;
}

export interface ReplayResult {
  /** @@gtid_slave_pos at the end: equal to the target. */
  appliedGtid: string;
  durationMs: number;
}

type Row = Record<string, unknown>;

const quote = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

async function one(server: ReplayServer, sql: string): Promise<Row> {
  const rows = await server.query<Row[]>(sql);
  return rows[0] ?? {};
}

/** Whether `applied` has reached `target` in every domain the target names. */
export function reachedTarget(applied: readonly MariaGtid[], target: readonly MariaGtid[]): boolean {
  return target.every((g) => mariaGtidListCovers(applied, g));
}

export async function replayViaFakePrimary(opts: ReplayOptions): Promise<ReplayResult> {
  const { server, log } = opts;
  const started = Date.now();
  const target = parseMariaGtidList(opts.target);
  if (target.length === 0) throw new ReplayError(opts.serverName, 'the target position is empty: nothing to replay to');
  let owned: FakePrimary | undefined;
  let endpoint: { host: string; port: number; serverId: number; user: string; password: string };
  if ('port' in opts.primary) {
    endpoint = opts.primary;
  } else {
    const password = randomBytes(18).toString('base64url');
    owned = await startFakePrimary({ ...opts.primary, user: 'squirrel_replay', password, log, follow: false, until: { gtid: formatMariaGtidList(target) } });
    endpoint = { host: owned.host, port: owned.port, serverId: owned.serverId, user: 'squirrel_replay', password };
  }
  const saved = await one(server, 'SELECT @@server_id AS serverId, @@global.slave_parallel_threads AS threads, @@global.slave_parallel_mode AS mode, @@global.slave_domain_parallel_threads AS domainThreads');
  try {
    const ownId = Number(saved.serverId);
    const clash = target.find((g) => g.serverId === ownId);
    if (ownId === endpoint.serverId || clash) {
      throw new ReplayError(opts.serverName, `the server's server_id ${ownId} is ${clash ? `the one that wrote GTID ${clash.domainId}-${clash.serverId}-${clash.seqNo}` : "the fake primary's"}`, {
        hint: 'A replica skips the events that carry its own server_id. Start the server with another --server-id for the replay.',
      });
    }
    await server.query('STOP SLAVE').catch(() => undefined);
    await server.query('RESET SLAVE ALL');
    const threads = opts.parallelThreads ?? availableParallelism();
    await server.query(`SET GLOBAL slave_parallel_threads = ${Math.max(0, Math.floor(threads))}`);
    await server.query(`SET GLOBAL slave_parallel_mode = ${quote(opts.parallelMode ?? 'optimistic')}`);
    if (opts.domainParallelThreads !== undefined) await server.query(`SET GLOBAL slave_domain_parallel_threads = ${Math.max(0, Math.floor(opts.domainParallelThreads))}`);
    if (opts.startGtid !== undefined) await server.query(`SET GLOBAL gtid_slave_pos = ${quote(formatMariaGtidList(parseMariaGtidList(opts.startGtid)))}`);
    await server.query(
      `CHANGE MASTER TO MASTER_HOST=${quote(endpoint.host)}, MASTER_PORT=${endpoint.port}, MASTER_USER=${quote(endpoint.user)}, ` +
        `MASTER_PASSWORD=${quote(endpoint.password)}, MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1`,
    );
    await server.query(owned ? 'START SLAVE' : `START SLAVE UNTIL master_gtid_pos = ${quote(formatMariaGtidList(target))}`);
    log.info({ target: opts.target, threads, startGtid: opts.startGtid }, `replaying into ${opts.serverName} through the fake primary at ${endpoint.host}:${endpoint.port}`);
    const applied = await waitForTarget(opts, target);
    const result = { appliedGtid: applied, durationMs: Date.now() - started };
    log.info(result, `replay into ${opts.serverName} reached ${applied}`);
    return result;
  } finally {
    await server.query('STOP SLAVE').catch(() => undefined);
    await server.query('RESET SLAVE ALL').catch(() => undefined);
    await server.query(`SET GLOBAL slave_parallel_threads = ${Number(saved.threads ?? 0)}`).catch(() => undefined);
    await server.query(`SET GLOBAL slave_parallel_mode = ${quote(String(saved.mode ?? 'optimistic'))}`).catch(() => undefined);
    await server.query(`SET GLOBAL slave_domain_parallel_threads = ${Number(saved.domainThreads ?? 0)}`).catch(() => undefined);
    await owned?.stop();
  }
}

async function waitForTarget(opts: ReplayOptions, target: MariaGtid[]): Promise<string> {
  const deadline = opts.timeoutMs === undefined ? Infinity : Date.now() + opts.timeoutMs;
  for (;;) {
    const { pos } = await one(opts.server, 'SELECT @@gtid_slave_pos AS pos');
    const applied = String(pos ?? '');
    opts.onProgress?.(applied);
    const appliedList = parseMariaGtidList(applied);
    if (reachedTarget(appliedList, target)) {
      const beyond = target.filter((g) => !appliedList.some((a) => a.domainId === g.domainId && a.seqNo === g.seqNo && a.serverId === g.serverId));
      if (beyond.length > 0) {
        throw new ReplayError(opts.serverName, `applied ${applied}, which is not exactly the target ${formatMariaGtidList(target)}`);
      }
      return applied;
    }
    const status = await one(opts.server, 'SHOW SLAVE STATUS');
    const ioError = String(status.Last_IO_Error ?? '');
    const sqlError = String(status.Last_SQL_Error ?? '');
    if (ioError && !sqlError) await drainRelayLog(opts);
    if (ioError || sqlError) {
      throw new ReplayError(opts.serverName, `replication stopped at ${applied || '(nothing applied)'}: ${ioError || sqlError}`, {
        hint: ioError ? 'The fake primary could not serve the binlog past the object named above. Run `squirrel verify`.' : 'The server could not apply a transaction of the binlog; see its error log.',
      });
    }
    const stoppedShort = status.Slave_SQL_Running === 'No' && status.Slave_IO_Running === 'No';
    // the appliers stop once the target is applied: look at the position again before calling it short
    if (stoppedShort && !reachedTarget(parseMariaGtidList(String((await one(opts.server, 'SELECT @@gtid_slave_pos AS pos')).pos ?? '')), target)) {
      throw new ReplayError(opts.serverName, `replication stopped at ${applied || '(nothing applied)'} without an error, short of ${formatMariaGtidList(target)}`, {
        hint: 'The binlog in the object store ends before the target. Check `squirrel status` for the durable position.',
      });
    }
    if (Date.now() > deadline) throw new ReplayError(opts.serverName, `target ${formatMariaGtidList(target)} not reached after ${opts.timeoutMs} ms (at ${applied})`);
    await sleep(opts.pollMs ?? 200);
  }
}

/**
 * After the fake primary stopped sending (a missing or damaged object), lets the appliers finish
 * what the replica already received, so the server holds exactly the prefix up to the last good
 * transaction before replication is stopped. Bounded: a stuck applier shows in the error that follows.
 */
async function drainRelayLog(opts: ReplayOptions, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const s = await one(opts.server, 'SHOW SLAVE STATUS');
    if (s.Slave_SQL_Running !== 'Yes' || String(s.Last_SQL_Error ?? '')) return;
    if (Number(s.Exec_Master_Log_Pos) >= Number(s.Read_Master_Log_Pos) && s.Relay_Master_Log_File === s.Master_Log_File && /read all relay log/i.test(String(s.Slave_SQL_Running_State ?? ''))) return;
    await sleep(opts.pollMs ?? 200);
  }
}
