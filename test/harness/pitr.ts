import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import mysql from 'mysql2/promise';
import { takeBaseBackup } from '../../agent/backup/base-backup.js';
import type { BackupManifest } from '../../agent/backup/manifest.js';
import { buildStreamer, objectStoreFor } from '../../agent/cli/agent.js';
import type { MariaDbServer } from '../../agent/local/mariadb.js';
import { silentLogger } from '../../agent/log.js';
import { restore, type RestoreOptions, type RestoreResult } from '../../agent/restore/restore.js';
import type { RestoreTarget } from '../../agent/restore/target.js';
import { ClusterStateRepo } from '../../agent/stream/cluster-state.js';
import { openStateStore } from '../../agent/wiring.js';
import { agentConfig } from './streaming.js';

export type PitrConfig = ReturnType<typeof agentConfig>;

/** A running streaming agent for one test; stopped when the test ends (or by `stop`). */
export function startAgent(t: TestContext, config: PitrConfig): { repo: ClusterStateRepo; stop: () => Promise<void> } {
  const { streamer, close } = buildStreamer(config, silentLogger, 'oldest');
  const running = streamer.run();
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      await streamer.stop();
      await running;
      await close();
    })());
  t.after(stop);
  return { repo: new ClusterStateRepo(openStateStore(config), config.clusterId), stop };
}

/**
 * Writes a numbered sequence, one transaction per number, on its own connection, recording each
 * transaction's GTID (`@@last_gtid`), so a test can tell which numbers a GTID position covers.
 */
export class SequenceWriter {
  readonly gtidOf = new Map<number, string>();
  readonly numberOf = new Map<string, number>();
  readonly committedAt = new Map<number, number>();
  next = 1;

  private constructor(private readonly conn: mysql.Connection) {}

  static async open(t: TestContext, server: MariaDbServer): Promise<SequenceWriter> {
    await server.query('CREATE DATABASE IF NOT EXISTS app; CREATE TABLE IF NOT EXISTS app.seq (n INT PRIMARY KEY, pad VARCHAR(200), at BIGINT)');
    const conn = await mysql.createConnection({ socketPath: server.socket, user: 'root', password: server.rootPassword, multipleStatements: true });
    const w = new SequenceWriter(conn);
    t.after(() => conn.end().catch(() => undefined));
    return w;
  }

  async write(count: number, opts: { pauseMs?: number } = {}): Promise<void> {
    for (let i = 0; i < count; i++) {
      const n = this.next++;
      const [results] = await this.conn.query('INSERT INTO app.seq VALUES (?, ?, ?); SELECT @@last_gtid AS g', [n, `row ${n} `.repeat(8), Date.now()]);
      const g = ((results as unknown[])[1] as { g: string }[])[0]!.g;
      this.gtidOf.set(n, g);
      this.numberOf.set(g, n);
      this.committedAt.set(n, Date.now());
      if (opts.pauseMs) await new Promise((r) => setTimeout(r, opts.pauseMs));
    }
  }
}

export function backupDeps(config: PitrConfig, repo: ClusterStateRepo) {
  return { objects: objectStoreFor(config), state: repo, prefix: '', clusterId: config.clusterId, mysqlUrl: config.mysqlUrl, log: silentLogger };
}

export function backup(config: PitrConfig, repo: ClusterStateRepo, kind: 'physical' | 'logical' = 'physical'): Promise<BackupManifest> {
  return takeBaseBackup(backupDeps(config, repo), { kind, progress: false, durableTimeoutMs: 30_000 });
}

/** A new directory for a restored datadir; removed (with the server's files) when the test ends. */
export function restoreDir(t: TestContext): string {
  const parent = mkdtempSync(join(tmpdir(), 'sq-restore-'));
  t.after(() => (process.env.KEEP ? undefined : rmSync(parent, { recursive: true, force: true })));
  return join(parent, 'data');
}

/** Restores with the server left running (stopped when the test ends). */
export async function restoreForTest(t: TestContext, config: PitrConfig, target: RestoreTarget, opts: RestoreOptions = {}): Promise<RestoreResult> {
  const datadir = restoreDir(t);
  const result = await restore(
    { objects: objectStoreFor(config), stateStore: openStateStore(config), prefix: '', clusterId: config.clusterId, mysqlUrl: config.mysqlUrl, log: silentLogger },
    target,
    datadir,
    { start: true, progress: false, ...opts },
  );
  if (result.server) t.after(() => result.server!.stop());
  return result;
}

/** The numbers in app.seq of a server, sorted. */
export async function numbersIn(server: MariaDbServer): Promise<number[]> {
  const rows = await server.query<{ n: number }[]>('SELECT n FROM app.seq ORDER BY n');
  return rows.map((r) => r.n);
}

export const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
