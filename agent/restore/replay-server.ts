import { mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { MariaDbServer } from '../server/mariadb.js';
import type { ServerSizing } from './server-sizing.js';

/**
 * The server a restore replays into: production sizes (server-sizing.ts), never the test
 * harness's, and durability relaxed for the replay only. Replay is safe to run without durability
 * because it is never resumed: a restore writes only into an empty datadir, so a replay that
 * crashes is redone from scratch into a new one, and nothing reads the server before it ends.
 *
 * Every relaxed setting is listed in `RELAXED_FOR_REPLAY`, with the value `promote` puts back.
 * The dynamic ones are set back by `promote` with SET GLOBAL; the startup-only one
 * (innodb_doublewrite) is put back by restarting: the restore stops the replay server cleanly
 * (every page flushed) and starts the server it hands over (`start`, `--start`) with the
 * durable settings, and `promote` refuses a server that still runs without it.
 */
export interface RelaxedSetting {
  /** The server variable. */
  name: string;
  /** Its value during replay. */
  replay: number;
  /** Its value once promoted (what the agent's preflight requires). */
  durable: number;
  /** Settable with SET GLOBAL (else only at startup). */
  dynamic: boolean;
  /** Why relaxing it is safe during replay, and what it saves. */
  reason: string;
}

export const RELAXED_FOR_REPLAY: readonly RelaxedSetting[] = [
  {
    name: 'innodb_flush_log_at_trx_commit',
    replay: 0,
    durable: 1,
    dynamic: true,
    reason: 'no redo log write and fsync per commit; a crash during replay loses only work that is redone from scratch',
  },
  {
    name: 'sync_binlog',
    replay: 0,
    durable: 1,
    dynamic: true,
    reason: 'no binlog fsync per commit (the replay server binlogs almost nothing, but its own setup and the relay log index)',
  },
  {
    name: 'innodb_doublewrite',
    replay: 0,
    durable: 1,
    dynamic: false,
    reason: 'each page is written once, not twice; a torn page can only come from a crash during replay, which is redone from scratch',
  },
];

export interface ReplayServerOptions {
  /** The restored datadir (filled by the base backup). */
  datadir: string;
  /** Where the server's socket, error log and pid file go. */
  serverDir: string;
  serverId: number;
  sizing: ServerSizing;
  /** root's password when the cluster's URL is root's (a physical backup carries its accounts). */
  rootPassword?: string;
  /** Durable settings (the server handed over to the caller), not the replay's. @default false */
  durable?: boolean;
  /** TCP port. @default a free one */
  port?: number;
}

/** The mariadbd options of a replay (or handed-over) server besides what MariaDbServer sets. */
export function replayServerArgs(sizing: ServerSizing, durable: boolean): string[] {
  return [
    ...RELAXED_FOR_REPLAY.filter((s) => !s.dynamic).map((s) => `--${s.name.replace(/_/g, '-')}=${durable ? s.durable : s.replay}`),
    // appliers and the fake primary's replication connection, plus the operator's
    '--max-connections=200',
    `--slave-parallel-threads=${sizing.parallelThreads}`,
    `--slave-domain-parallel-threads=${sizing.domainParallelThreads}`,
    '--slave-parallel-mode=optimistic',
    // a restored server takes no writes before `promote` checks it and opens them (accounts
    // with READ_ONLY ADMIN, such as root's ALL PRIVILEGES, are not held by read_only)
    ...(durable ? ['--read-only=ON'] : []),
  ];
}

/** Starts mariadbd on a restored datadir, sized and set for replay (or for use, with `durable`). */
export async function startReplayServer(opts: ReplayServerOptions): Promise<MariaDbServer> {
  const durable = opts.durable ?? false;
  rmSync(opts.serverDir, { recursive: true, force: true });
  mkdirSync(opts.serverDir, { recursive: true });
  // MariaDbServer keeps its files next to `data/`: a link to the restored datadir
  symlinkSync(opts.datadir, join(opts.serverDir, 'data'));
  const setting = (name: string) => RELAXED_FOR_REPLAY.find((s) => s.name === name)!;
  const value = (name: string) => (durable ? setting(name).durable : setting(name).replay);
  return MariaDbServer.start({
    dir: opts.serverDir,
    keep: true,
    serverId: opts.serverId,
    syncBinlog: value('sync_binlog'),
    innodbFlushLogAtTrxCommit: value('innodb_flush_log_at_trx_commit') as 0 | 1 | 2,
    innodbSizes: { bufferPoolBytes: opts.sizing.bufferPoolBytes, logFileBytes: opts.sizing.logFileBytes },
    extraArgs: replayServerArgs(opts.sizing, durable),
    // a large buffer pool is allocated and a large redo log resized at start: allow for both
    startTimeoutMs: 120_000,
    stopTimeoutMs: 600_000,
    ...(opts.rootPassword !== undefined ? { rootPassword: opts.rootPassword } : {}),
    ...(opts.port !== undefined ? { port: opts.port } : {}),
  });
}
