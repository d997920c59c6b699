import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { parseMysqlUrl } from '../config.js';
import { RestoreRefusedError } from '../errors.js';
import type { MariaDbServer } from '../server/mariadb.js';
import type { Logger } from '../log.js';
import type { ObjectStore } from '../ports/object-store.js';
import type { StateStore } from '../ports/state-store.js';
import { Progress } from '../progress.js';
import { clientOptionFile } from '../tools/client-options.js';
import { ToolProcess } from '../tools/tool-process.js';
import { checkBackupDigest, streamBackupInto, unpackPhysical } from './base-fetch.js';
import { readChunkMetadata, readInventory } from './inventory.js';
import { describePlan, planRestore, type RestorePlan } from './plan.js';
import { feedChunks, replayInto, type ReplaySummary } from './replay.js';
import { Writable } from 'node:stream';
import { replayViaFakePrimary } from '../serve/replay.js';
import { describeDomains, gtidFlavour } from '../binlog/gtid-position.js';
import { formatMariaGtidList, parseMariaGtid, parseMariaGtidList } from '../protocol/gtid.js';
import { DEFAULT_SERVE_SERVER_ID } from '../serve/fake-primary.js';
import type { RestoreTarget } from './target.js';
import { startReplayServer } from './replay-server.js';
import { atLowerPriority, REPLAY_NICE } from './cpu-priority.js';
import { PrefetchingObjectStore, prefetchBudgetBytes, type PrefetchStats } from './chunk-prefetch.js';
import { sizeReplayServer, type ServerSizing } from './server-sizing.js';
import { gtidDistance } from './gtid-distance.js';
import { recordRestore, restoreRates, type RestoreRecord } from './restore-history.js';
import { DEFAULT_RESTORE_RATES, describePrediction, predictRestore, type RestorePrediction } from './rto.js';

export { gtidDistance };

/**
 * A restore: plan (pure, printed first), then act: bring the base backup into `datadir`, start a
 * private server on it, replay the chunks from the backup's position to the target, stop the
 * server (or leave it running with `start`). See plan.ts for how the backup and chunks are chosen
 * and replay.ts for why a damaged chunk never leaves a partial transaction behind.
 */
export interface RestoreDeps {
  objects: ObjectStore;
  stateStore: StateStore;
  prefix: string;
  clusterId: string;
  /** Credentials the restored server accepts (those of the cluster's server: a physical backup carries its accounts). */
  mysqlUrl: string;
  log: Logger;
  /** Where the plan is printed. @default nothing */
  out?: (line: string) => void;
}

export interface RestoreOptions {
  /** Print the plan and change nothing. */
  dryRun?: boolean;
  /**
   * How the chunks are applied: `replica` (default) makes the restored server a replica of the
   * fake primary, which applies them with parallel threads; `pipe` runs `mariadb-binlog | mariadb`.
   */
  via?: 'replica' | 'pipe';
  /** Applier threads for `via: 'replica'`. @default server-sizing.ts replayParallelism */
  parallelThreads?: number;
  /** The replay server's InnoDB buffer pool. @default server-sizing.ts's rule */
  bufferPoolBytes?: number;
  /** The replay server's redo log. @default server-sizing.ts's rule */
  logFileBytes?: number;
  /** The machine's memory, for the sizing rule. @default os.totalmem() */
  memoryBytes?: number;
  /** Chunk bytes read ahead during the backup's prepare and held for the replay. @default chunk-prefetch.ts prefetchBudgetBytes */
  prefetchBytes?: number;
  /** Leave the restored server running and return it (the caller stops it). */
  start?: boolean;
  /** The TCP port of the server handed over with `start` (the address reserved for it). @default a free port */
  port?: number;
  /** Show progress on a terminal / in logs. @default true */
  progress?: boolean;
  /** The nice value of this process's main thread (the fake primary) during a replay through it; 0: unchanged. @default cpu-priority.ts REPLAY_NICE (10), when running as root */
  replayNice?: number;
  /** Told the transactions applied so far at each poll of the replay through the fake primary. */
  onReplayProgress?: (applied: number) => void;
}

export interface RestoreResult {
  plan: RestorePlan;
  dryRun: boolean;
  backupId: string;
  /** Chunks fetched and replayed (including a header chunk). */
  chunks: number;
  chunkBytes: number;
  /** Transactions replayed on top of the backup. */
  transactions: number;
  /** The whole GTID position the restored server holds, every domain (the backup's when nothing was replayed). */
  gtidPosition: string;
  stoppedBy: ReplaySummary['stoppedBy'] | 'dry-run';
  durationMs: number;
  /** Time spent replaying chunks (after the base backup was in place and the server up). */
  replayMs: number;
  /** Time of each phase, and the replay's rate. */
  phases: RestorePhases;
  /** The predicted restore time (rto.ts), printed with the plan. */
  prediction: RestorePrediction;
  /** How the replay server was sized (undefined for a dry run). */
  sizing?: ServerSizing;
  /** The chunks read ahead for the replay, and how many of its reads they answered (undefined for a dry run). */
  prefetch?: PrefetchStats;
  datadir: string;
  /** server_id the restored server runs with (not the old primary's when replayed as a replica). */
  serverId?: number;
  /** The running restored server when `start` was asked. */
  server?: MariaDbServer;
}

/**
 * The phases of a restore, in order, each in ms: plan (listing, manifests, the plan), fetch
 * (download, check, decompress, unpack; for a dump also loading it), prepare (mariabackup
 * --prepare), start (the replay server), replay (the chunks applied), finish (the applied position
 * checked and made the binlog's, then the server stopped cleanly, or restarted with the durable
 * settings when it is handed over).
 */
export interface RestorePhases {
  planMs: number;
  fetchMs: number;
  prepareMs: number;
  startMs: number;
  replayMs: number;
  finishMs: number;
  replayTransactions: number;
  /** Transactions per second of the replay phase (0 when nothing was replayed). */
  replayTxPerSec: number;
}

/** The server's files next to the datadir: `<parent>/.<name>.squirrel/` (socket, error log, pid). */
export function serverDirFor(datadir: string): string {
  return join(dirname(datadir), `.${basename(datadir)}.squirrel`);
}

/** Runs SQL with the `mariadb` client (the dump may have changed root's password: the server's pool would not know). */
async function clientSql(optionFile: string, sql: string): Promise<void> {
  const client = ToolProcess.start('mariadb', [`--defaults-extra-file=${optionFile}`, '--batch', '-e', sql], { stdin: 'ignore', stdout: 'ignore' });
  await client.done;
}

function prepareDatadir(datadir: string): void {
  if (existsSync(datadir) && readdirSync(datadir).length > 0) {
    throw new RestoreRefusedError(datadir, 'the datadir is not empty', { hint: 'Restore into a new or empty directory; squirrel never overwrites a datadir.' });
  }
  mkdirSync(datadir, { recursive: true });
}

export async function restore(deps: RestoreDeps, target: RestoreTarget, datadirIn: string, opts: RestoreOptions = {}): Promise<RestoreResult> {
  const startedMs = Date.now();
  const { log } = deps;
  const datadir = resolve(datadirIn);
  const inventory = await readInventory(deps.objects, deps.stateStore, deps.prefix, deps.clusterId, { withMetadata: target.kind !== 'latest' });
  for (const bad of inventory.catalog.invalid) log.warn({ key: bad.key, problem: bad.message }, 'ignoring an invalid backup manifest');
  const plan = planRestore({ target, state: inventory.state, starts: inventory.starts, manifests: inventory.catalog.complete, chunks: inventory.chunks, prunedThrough: inventory.prunedThrough });
  const phases: RestorePhases = { planMs: Date.now() - startedMs, fetchMs: 0, prepareMs: 0, startMs: 0, replayMs: 0, finishMs: 0, replayTransactions: 0, replayTxPerSec: 0 };
  for (const line of describePlan(plan)) deps.out?.(line);
  const rates = await restoreRates(deps.objects, deps.prefix, deps.clusterId).catch((err: unknown) => {
    log.warn({ err: (err as Error).message }, 'could not read the last restore record; predicting with the default rates');
    return DEFAULT_RESTORE_RATES;
  });
  const prediction = predictRestore(plan, rates);
  deps.out?.(describePrediction(prediction));
  log.info({ backupId: plan.backup.id, chunks: plan.chunks.length, bytes: plan.bytes, targetGtid: plan.targetGtid }, 'restore plan');
  const result: RestoreResult = {
    plan,
    dryRun: !!opts.dryRun,
    backupId: plan.backup.id,
    chunks: 0,
    chunkBytes: 0,
    transactions: 0,
    gtidPosition: plan.backup.binlog.gtid,
    stoppedBy: 'dry-run',
    durationMs: 0,
    replayMs: 0,
    phases,
    prediction,
    datadir,
  };
  if (opts.dryRun) return { ...result, durationMs: Date.now() - startedMs };

  prepareDatadir(datadir);
  // a latest plan was made from the listing alone: its chunks' metadata names who wrote them
  if (target.kind === 'latest') await readChunkMetadata(deps.objects, [...plan.chunks, ...(plan.header ? [plan.header] : [])]);
  const via = opts.via ?? 'replica';
  // a replica skips events carrying its own server_id: the restored server takes another one
  const serverId = via === 'replica' ? replicaServerId(plan) : plan.backup.server.serverId;
  result.serverId = serverId;
  const sizing = sizeReplayServer({
    memoryBytes: opts.memoryBytes ?? totalmem(),
    dataBytes: plan.backup.object.rawSizeBytes,
    binlogBytes: plan.bytes.chunks,
    cores: availableParallelism(),
    ...(opts.bufferPoolBytes !== undefined ? { bufferPoolBytes: opts.bufferPoolBytes } : {}),
    ...(opts.logFileBytes !== undefined ? { logFileBytes: opts.logFileBytes } : {}),
    ...(opts.parallelThreads !== undefined ? { parallelThreads: opts.parallelThreads } : {}),
  });
  result.sizing = sizing;
  deps.out?.(`replay server: ${sizing.reason}`);
  log.info({ sizing }, 'replay server sizing');
  const { user, password } = parseMysqlUrl(deps.mysqlUrl);
  const serverOpts = { datadir, serverDir: serverDirFor(datadir), serverId, sizing, ...(user === 'root' ? { rootPassword: password } : {}) };
  const progressOn = opts.progress !== false;
  const backupProgress = progressOn ? new Progress({ label: `fetch ${plan.backup.id}`, totalBytes: plan.bytes.backup, log }) : undefined;
  let server: MariaDbServer | undefined;
  const timed = async <T>(phase: 'fetchMs' | 'startMs' | 'replayMs' | 'finishMs', work: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    try {
      return await work();
    } finally {
      phases[phase] += Date.now() - t0;
    }
  };
  // the replay's chunks are read during the prepare (physical) or from the replay's start (logical)
  const chunkStore = new PrefetchingObjectStore(deps.objects, { budgetBytes: opts.prefetchBytes ?? prefetchBudgetBytes(opts.memoryBytes ?? totalmem()), log });
  const prefetch = () => chunkStore.prefetch([...(plan.header ? [plan.header] : []), ...plan.chunks]);
  const replayDeps = { ...deps, objects: chunkStore };
  try {
    if (plan.backup.kind === 'physical') {
      const times = await unpackPhysical(deps.objects, plan.backup, datadir, backupProgress, sizing.bufferPoolBytes, prefetch);
      Object.assign(phases, times);
      backupProgress?.done();
      server = await timed('startMs', () => startReplayServer(serverOpts));
    } else {
      await timed('fetchMs', () => checkBackupDigest(deps.objects, plan.backup));
      server = await timed('startMs', () => startReplayServer(serverOpts));
      const running = server;
      // a fresh server's root has the password MariaDbServer set; the dump then installs the cluster's accounts
      const file = clientOptionFile({ user: 'root', password: running.rootPassword, socket: running.socket });
      try {
        // the dump is not binlogged (its rows are the backup, not transactions); the binlog then
        // starts at the backup's GTID position, so the replayed GTIDs follow on in strict mode
        await timed('fetchMs', async () => {
          const client = ToolProcess.start('mariadb', [`--defaults-extra-file=${file.path}`, '--binary-mode', '--batch', '--init-command=SET sql_log_bin=0'], { stdout: 'ignore' });
          await streamBackupInto(deps.objects, plan.backup, client, backupProgress);
          backupProgress?.done();
          await clientSql(file.path, `FLUSH PRIVILEGES; RESET MASTER;${plan.backup.binlog.gtid ? ` SET GLOBAL gtid_binlog_state = '${plan.backup.binlog.gtid.replace(/[^0-9,-]/g, '')}';` : ''}`);
        });
      } finally {
        file.cleanup();
      }
    }
    const replaying = server;
    prefetch(); // a logical backup's; a physical one's began at its prepare (listed keys are not listed again)
    const summary = await timed('replayMs', () =>
      via === 'pipe'
        ? replayByPipe(replayDeps, plan, replaying, progressOn)
        : atLowerPriority({ nice: opts.replayNice ?? REPLAY_NICE, log }, () => replayByReplica(replayDeps, plan, replaying, sizing, progressOn, opts.onReplayProgress)),
    );
    result.prefetch = { ...chunkStore.stats };
    log.info({ prefetch: result.prefetch }, 'chunks read ahead for the replay');
    phases.replayTransactions = summary.transactions;
    phases.replayTxPerSec = phases.replayMs > 0 ? Math.round((summary.transactions * 1000) / phases.replayMs) : 0;
    Object.assign(result, {
      chunks: summary.chunks,
      chunkBytes: summary.chunkBytes,
      transactions: summary.transactions,
      gtidPosition: summary.gtidPos || plan.backup.binlog.gtid,
      stoppedBy: summary.stoppedBy,
      replayMs: phases.replayMs,
    });
    log.info({ transactions: summary.transactions, gtidPosition: result.gtidPosition, chunks: summary.chunks }, 'restore complete');
  } catch (err) {
    await server?.stop();
    throw err;
  } finally {
    chunkStore.close();
  }
  // the replay's relaxed settings end with its server: a clean stop flushes every page, and the
  // server handed over starts with the durable ones (innodb_doublewrite is settable only at startup)
  const replayServer = server;
  await timed('finishMs', () => replayServer.stop());
  if (opts.start) result.server = await timed('finishMs', () => startReplayServer({ ...serverOpts, durable: true, ...(opts.port !== undefined ? { port: opts.port } : {}) }));
  for (const line of describePhases(phases)) deps.out?.(line);
  const record: RestoreRecord = {
    at: new Date().toISOString(),
    backupId: plan.backup.id,
    backupKind: plan.backup.kind,
    backupStoredBytes: plan.bytes.backup,
    backupRawBytes: plan.backup.object.rawSizeBytes,
    ...phases,
  };
  // the next prediction's rates; a restore that cannot record them has still restored
  await recordRestore(deps.objects, deps.prefix, deps.clusterId, record).catch((err: unknown) => log.warn({ err: (err as Error).message }, 'could not store the restore record (the next prediction uses older rates)'));
  return { ...result, durationMs: Date.now() - startedMs };
}

/** The phase lines printed at the end of a restore. Pure. */
export function describePhases(p: RestorePhases): string[] {
  const sec = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  return [
    `phases:       plan ${sec(p.planMs)}, fetch ${sec(p.fetchMs)}, prepare ${sec(p.prepareMs)}, start ${sec(p.startMs)}, replay ${sec(p.replayMs)}, finish ${sec(p.finishMs)}`,
    `replay:       ${p.replayTransactions} transaction(s) at ${p.replayTxPerSec} tx/s`,
  ];
}

/**
 * A server_id for a server restored as a replica: none of the servers that wrote the replayed
 * events (a replica skips its own server_id's events, silently). Taken from every planned chunk's
 * event headers (`server-ids` metadata), whatever its epoch, and, for chunks an older agent wrote
 * without it, their first and last GTIDs and whole positions; also the backup's, the target's, and
 * the agent's and the fake primary's defaults.
 */
export function replicaServerId(plan: RestorePlan): number {
  const taken = new Set<number>([plan.backup.server.serverId, DEFAULT_SERVE_SERVER_ID, 4_000_000_001, 4_000_000_002]);
  const chunks = plan.header ? [plan.header, ...plan.chunks] : plan.chunks;
  for (const c of chunks) for (const id of c.serverIds) taken.add(id);
  const positions = [plan.targetGtid, plan.backup.binlog.gtid, ...chunks.flatMap((c) => [c.firstGtid, c.lastGtid, c.gtidPos])];
  for (const text of positions) if (gtidFlavour(text) === 'mariadb') for (const part of text.split(',')) taken.add(parseMariaGtid(part).serverId);
  let id = 4_100_000_000 + (plan.backup.server.serverId % 1000);
  while (taken.has(id)) id++;
  return id;
}

/** ER_BINLOG_MUST_BE_EMPTY: gtid_binlog_state is set only on a binlog that holds no GTID. */
const BINLOG_MUST_BE_EMPTY = 1956;

/**
 * Sets the server's binlog state, which empties its binlog (the replay server logs no applied
 * transaction: log_slave_updates is off). Each binlog reset waits for InnoDB's next log flush
 * (up to a second with the replay's innodb_flush_log_at_trx_commit=0), so the one the SET does
 * is the only one, unless a GTID was logged after all: then RESET MASTER first.
 */
async function setBinlogState(server: MariaDbServer, position: string): Promise<void> {
  const set = () => server.query(`SET GLOBAL gtid_binlog_state = '${position}'`);
  try {
    await set();
  } catch (err) {
    if ((err as { errno?: number }).errno !== BINLOG_MUST_BE_EMPTY) throw err;
    await server.query('RESET MASTER');
    await set();
  }
}

async function replayByPipe(deps: RestoreDeps, plan: RestorePlan, server: MariaDbServer, progressOn: boolean): Promise<ReplaySummary> {
  const { user, password } = parseMysqlUrl(deps.mysqlUrl);
  const progress = progressOn ? new Progress({ label: 'replay', totalBytes: plan.bytes.chunks, log: deps.log }) : undefined;
  const summary = await replayInto(plan, deps.objects, { user, password, socket: server.socket }, deps.log, progress);
  progress?.done();
  return summary;
}

/**
 * Replays through the fake primary: the restored server becomes its replica, from the backup's
 * GTID position to the plan's whole target position (every domain). A target the plan knows only
 * as a bound (a time, or a `gtid:` target naming fewer domains than the stream holds) is first
 * resolved to the exact position at its point, by reading the chunks through the same cutter the
 * pipe uses. The server's binlog state is set to the target, so that a promoted server's own
 * transactions continue after it in every domain. That SET waits for InnoDB's next log flush (up
 * to a second with the replay's innodb_flush_log_at_trx_commit=0), so it runs beside the replay,
 * on another connection: the replay binlogs nothing (log_slave_updates is off), and a replay that
 * fails empties the binlog again, so a failed restore's server never claims the target.
 */
async function replayByReplica(deps: RestoreDeps, plan: RestorePlan, server: MariaDbServer, sizing: ServerSizing, progressOn: boolean, onApplied?: (applied: number) => void): Promise<ReplaySummary> {
  let target = plan.targetGtid;
  let counted: ReplaySummary | undefined;
  if (!plan.targetExact) {
    counted = await feedChunks(plan, deps.objects, new Writable({ write: (_c, _e, done) => done() }));
    target = counted.gtidPos || plan.backup.binlog.gtid;
    for (const line of [`resolved:     GTID position ${target || 'none'}`, ...describeDomains(target).map((l) => `  ${l}`)]) deps.out?.(line);
  }
  const base = plan.backup.binlog.gtid;
  const transactions = counted?.transactions ?? gtidDistance(base, target);
  if (target && target !== base && transactions > 0) {
    const progress = progressOn ? new Progress({ label: 'replay', unit: 'transactions', totalBytes: transactions, log: deps.log }) : undefined;
    const binlogState = setBinlogState(server, formatMariaGtidList(parseMariaGtidList(target)));
    binlogState.catch(() => undefined); // awaited below, after the replay
    await replayViaFakePrimary({
      server,
      serverName: `the restored server (${server.socket})`,
      primary: { objects: deps.objects, stateStore: deps.stateStore, prefix: deps.prefix, clusterId: deps.clusterId },
      target,
      startGtid: base,
      parallelThreads: sizing.parallelThreads,
      domainParallelThreads: sizing.domainParallelThreads,
      log: deps.log,
      ...(progress || onApplied
        ? {
            onProgress: (position: string) => {
              const applied = gtidDistance(base, position);
              progress?.set(applied);
              onApplied?.(applied);
            },
          }
        : {}),
    }).catch(async (err) => {
      await binlogState.catch(() => undefined);
      await server.query('RESET MASTER').catch(() => undefined);
      // the fake primary names a missing or damaged object in the replica's error: refuse with it
      const named = /binlog chain broken at (\S+?):|chunk seq \d+ is missing/.exec(err instanceof Error ? err.message : '');
      if (named) throw new RestoreRefusedError(named[1] ?? named[0], `replay stopped before a missing or damaged object: ${(err as Error).message}`, { cause: err });
      throw err;
    });
    progress?.done();
    await binlogState;
  } else if (base) {
    // nothing to replay: the server's position is the backup's. A physical backup carries
    // mysql.gtid_slave_pos as its source left it (a primary that was once restored holds its own
    // restore's replica position there, long behind), not the backup's point: set both positions
    const position = formatMariaGtidList(parseMariaGtidList(base));
    await server.query(`SET GLOBAL gtid_slave_pos = '${position}'`);
    await setBinlogState(server, position);
  }
  return {
    transactions,
    lastGtid: counted?.lastGtid ?? '',
    gtidPos: target,
    lastCommitSec: counted?.lastCommitSec ?? 0,
    bytes: plan.bytes.chunks,
    stoppedBy: plan.target.kind === 'time' ? 'time' : plan.target.kind === 'gtid' ? 'gtid' : 'end',
    chunks: plan.chunks.length,
    chunkBytes: plan.bytes.chunks,
  };
}
