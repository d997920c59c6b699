import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import mysql from 'mysql2/promise';
import { takeBaseBackup } from '../../agent/backup/base-backup.js';
import type { BackupManifest } from '../../agent/backup/manifest.js';
import { buildStreamer, objectStoreFor } from '../../agent/cli/agent.js';
import type { MariaDbServer } from '../../agent/server/mariadb.js';
import { silentLogger } from '../../agent/log.js';
import { restore, type RestoreOptions, type RestoreResult } from '../../agent/restore/restore.js';
import type { RestoreTarget } from '../../agent/restore/target.js';
import { ClusterStateRepo } from '../../agent/cluster/repo.js';
import { openStateStore } from '../../agent/wiring.js';
import { agentConfig } from './streaming.js';

export type PitrConfig = ReturnType<typeof agentConfig>;

/**
 * A running streaming agent for one test; stopped when the test ends (or by `stop`). The stop is
 * bounded like the CLI agent's: a test whose stand-ins are already gone when its hooks run (they
 * run in the order they were added) gives up after `stopTimeoutMs` instead of retrying forever.
 */
export function startAgent(t: TestContext, config: PitrConfig, stopTimeoutMs = 10_000): { repo: ClusterStateRepo; stop: () => Promise<void> } {
  const giveUp = new AbortController();
  const { streamer, close } = buildStreamer(config, silentLogger, 'oldest', { clients: { giveUp: giveUp.signal } });
  const running = streamer.run();
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      const timer = setTimeout(() => giveUp.abort(new Error('the test agent did not stop in time')), stopTimeoutMs);
      try {
        await streamer.stop();
        await running;
        await close();
      } finally {
        clearTimeout(timer);
      }
    })());
  t.after(stop);
  return { repo: new ClusterStateRepo(openStateStore(config), config.clusterId), stop };
}

/**
 * Writes a numbered sequence, one transaction per number, recording each transaction's GTID
 * (`@@last_gtid`), so a test can tell which numbers a GTID position covers. With several
 * `domains`, each has its own connection (`SET gtid_domain_id`) and the writes go round them in
 * turn, so the domains' transactions interleave in the binlog; the numbers still follow commit order.
 */
export class SequenceWriter {
  readonly gtidOf = new Map<number, string>();
  readonly numberOf = new Map<string, number>();
  readonly committedAt = new Map<number, number>();
  /** The domain each number was written in. */
  readonly domainOf = new Map<number, number>();
  next = 1;
  private turn = 0;

  private constructor(private readonly conns: { domain: number; conn: mysql.Connection }[]) {}

  static async open(t: TestContext, server: MariaDbServer, opts: { domains?: number[] } = {}): Promise<SequenceWriter> {
    await server.query('CREATE DATABASE IF NOT EXISTS app; CREATE TABLE IF NOT EXISTS app.seq (n INT PRIMARY KEY, pad VARCHAR(200), at BIGINT)');
    const conns = await Promise.all(
      (opts.domains ?? [0]).map(async (domain) => {
        const conn = await mysql.createConnection({ socketPath: server.socket, user: 'root', password: server.rootPassword, multipleStatements: true });
        t.after(() => conn.end().catch(() => undefined));
        await conn.query(`SET SESSION gtid_domain_id = ${domain}`);
        return { domain, conn };
      }),
    );
    return new SequenceWriter(conns);
  }

  /** The connection (and domain) the next write goes to. */
  private take(): { domain: number; conn: mysql.Connection } {
    const c = this.conns[this.turn % this.conns.length]!;
    this.turn++;
    return c;
  }

  private record(n: number, domain: number, gtid: string): void {
    this.gtidOf.set(n, gtid);
    this.numberOf.set(gtid, n);
    this.domainOf.set(n, domain);
    this.committedAt.set(n, Date.now());
  }

  async write(count: number, opts: { pauseMs?: number } = {}): Promise<void> {
    for (let i = 0; i < count; i++) {
      const n = this.next++;
      const { domain, conn } = this.take();
      const [results] = await conn.query('INSERT INTO app.seq VALUES (?, ?, ?); SELECT @@last_gtid AS g', [n, `row ${n} `.repeat(8), Date.now()]);
      this.record(n, domain, ((results as unknown[])[1] as { g: string }[])[0]!.g);
      if (opts.pauseMs) await new Promise((r) => setTimeout(r, opts.pauseMs));
    }
  }

  /**
   * Writes the next number inside an XA transaction: XA START … XA PREPARE (one binlog group with
   * its own GTID), then, unless `end` is 'prepare', XA COMMIT or XA ROLLBACK (a second group).
   * Returns both GTIDs; the number's row exists only after a commit.
   */
  async xa(end: 'commit' | 'rollback' | 'prepare', opts: { pauseMs?: number } = {}): Promise<{ n: number; xid: string; prepareGtid: string; endGtid?: string; preparedAt: number }> {
    const n = this.next++;
    const { domain, conn } = this.take();
    const xid = `sq-xa-${n}`;
    await conn.query(`XA START '${xid}'; INSERT INTO app.seq VALUES (?, ?, ?); XA END '${xid}'`, [n, `xa ${n}`, Date.now()]);
    const [prepared] = await conn.query(`XA PREPARE '${xid}'; SELECT @@last_gtid AS g`);
    const prepareGtid = ((prepared as unknown[])[1] as { g: string }[])[0]!.g;
    const preparedAt = Date.now();
    if (end === 'prepare') return { n, xid, prepareGtid, preparedAt };
    if (opts.pauseMs) await new Promise((r) => setTimeout(r, opts.pauseMs));
    const [ended] = await conn.query(`XA ${end === 'commit' ? 'COMMIT' : 'ROLLBACK'} '${xid}'; SELECT @@last_gtid AS g`);
    const endGtid = ((ended as unknown[])[1] as { g: string }[])[0]!.g;
    if (end === 'commit') this.record(n, domain, endGtid);
    return { n, xid, prepareGtid, endGtid, preparedAt };
  }

  /** The numbers written (committed) up to and including `n`, in order. */
  upTo(n: number): number[] {
    return [...this.gtidOf.keys()].filter((k) => k <= n).sort((a, b) => a - b);
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
