import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import { buildStreamer, objectStoreFor } from '../../../agent/cli/agent.js';
import type { StopReason } from '../../../agent/stream/streamer.js';
import { ServerConfigError } from '../../../agent/errors.js';
import { silentLogger } from '../../../agent/log.js';
import type { ObjectStore } from '../../../agent/ports/object-store.js';
import { sleep } from '../../../agent/retry.js';
import { ClusterStateRepo, type ClusterState } from '../../../agent/cluster/repo.js';
import { describeSemiSync, statusReport } from '../../../agent/cli/status.js';
import { MetricsRecorder } from '../../../agent/metrics.js';
import { capturingLogger } from '../../harness/log.js';
import { openStateStore } from '../../../agent/wiring.js';
import type { MariaDbServer } from '../../../agent/server/mariadb.js';
import { withMariaDb } from '../../harness/mariadb.js';
import { withLocalStack } from '../../harness/stack.js';
import { agentConfig, assertChunksRebuildBinlog, waitCaughtUp } from '../../harness/streaming.js';

const SEMI_SYNC_ARGS = ['--rpl-semi-sync-master-enabled=ON', '--rpl-semi-sync-master-wait-point=AFTER_SYNC', '--rpl-semi-sync-master-timeout=30000'];

/** An object store whose chunk PUTs wait while the gate is closed. */
function gatedStore(inner: ObjectStore): { store: ObjectStore; close(): void; open(): void; waiting(): number } {
  let gate: Promise<void> | undefined;
  let release: (() => void) | undefined;
  let waiting = 0;
  const store = Object.create(inner) as ObjectStore;
  store.putIfAbsent = async (key, body, sha256, metadata) => {
    while (gate) {
      waiting++;
      await gate;
      waiting--;
    }
    return inner.putIfAbsent(key, body, sha256, metadata);
  };
  return {
    store,
    close: () => (gate ??= new Promise<void>((resolve) => (release = resolve))),
    open: () => {
      gate = undefined;
      release?.();
    },
    waiting: () => waiting,
  };
}

/** The sequence number of domain 0 in a GTID position (`0-1-17,1-2-5` → 17). */
function seqOfDomain0(position: string): number {
  for (const g of position.split(',')) {
    const [domain, , seq] = g.trim().split('-');
    if (domain === '0' && seq !== undefined) return Number(seq);
  }
  return 0;
}

/** Commits one insert on its own connection; returns its GTID's seq and how long the commit took. */
async function commit(server: MariaDbServer, v: string): Promise<{ seq: number; ms: number }> {
  const started = performance.now();
  const results = await server.query<[unknown, { g: string }[]]>('INSERT INTO app.t (v) VALUES (?); SELECT @@last_gtid AS g', [v]);
  const ms = performance.now() - started;
  return { seq: seqOfDomain0(String(results[1][0]!.g)), ms };
}

async function semiSyncStatus(server: MariaDbServer): Promise<Record<string, string>> {
  const rows = await server.query<{ Variable_name: string; Value: string }[]>("SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_%'");
  return Object.fromEntries(rows.map((r) => [r.Variable_name, String(r.Value)]));
}

/** Stops a streamer built by the test and asserts it stopped cleanly (stored what it held, released its lease). */
async function stopCleanly(streamer: { stop(): Promise<void> }, running: Promise<StopReason>, close: () => Promise<void>): Promise<void> {
  await streamer.stop();
  const reason = await running;
  await close();
  assert.equal(reason.kind, 'stopped', reason.kind === 'failed' ? String(reason.error) : '');
}

/** Reads the state item until `ok` holds (the heartbeat records the semi-sync state every 200 ms). */
async function waitForState(repo: ClusterStateRepo, ok: (s: ClusterState) => boolean, timeoutMs = 15_000): Promise<ClusterState> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = await repo.read();
    if (state && ok(state)) return state;
    if (Date.now() > deadline) throw new Error(`the state item did not reach the expected semi-sync state in ${timeoutMs} ms: ${JSON.stringify(state?.semiSync)}`);
    await sleep(100);
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

describe('lossless mode (semi-sync replica)', () => {
  it('a commit returns only once the durable position covers it, and waits while the object store is blocked', async (t) => {
    const server = await withMariaDb(t, { extraArgs: SEMI_SYNC_ARGS });
    const stack = await withLocalStack(t);
    const config = { ...agentConfig(server, stack, 'lossless'), lossless: 'strict' as const, chunkMaxAgeMs: 5_000 };
    const gated = gatedStore(objectStoreFor(config));
    const { streamer, close } = buildStreamer(config, silentLogger, 'oldest', { objects: gated.store });
    const running = streamer.run();
    const repo = new ClusterStateRepo(openStateStore(config), config.clusterId);
    try {
      await waitCaughtUp(server, repo);
      const before = await semiSyncStatus(server);
      t.diagnostic(`before: ${JSON.stringify(before)}`);
      // the agent is connected as a semi-sync replica: commits from here on wait for it
      await server.query('CREATE DATABASE app');
      await server.query('CREATE TABLE app.t (id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(200))');
      assert.equal((await semiSyncStatus(server)).Rpl_semi_sync_master_clients, '1');

      // each commit: when it returns, the durable position already holds it (the chunk age is 5 s,
      // so nothing but the acknowledgement cuts the chunk this fast)
      const latencies: number[] = [];
      for (let i = 0; i < 10; i++) {
        const c = await commit(server, `row ${i}`);
        latencies.push(c.ms);
        const state = await repo.read();
        const durableSeq = seqOfDomain0(state?.durable?.gtid ?? '');
        assert.ok(durableSeq >= c.seq, `commit 0-x-${c.seq} returned but the durable position is at ${state?.durable?.gtid}`);
      }
      assert.ok(median(latencies) < 4_000, `commits took ${latencies.map((l) => Math.round(l)).join(', ')} ms: the chunk age cut them, not the ack`);
      t.diagnostic(`lossless commit latency, median of 10: ${median(latencies).toFixed(1)} ms`);

      // commits that arrive together all return (one acknowledgement may answer several)
      const together = await Promise.all(Array.from({ length: 16 }, (_, i) => commit(server, `together ${i}`)));
      const durableAfter = seqOfDomain0((await repo.read())?.durable?.gtid ?? '');
      assert.ok(durableAfter >= Math.max(...together.map((c) => c.seq)));
      t.diagnostic(`16 concurrent commits: slowest ${Math.round(Math.max(...together.map((c) => c.ms)))} ms`);

      // the object store is blocked: a commit does not return until its chunk is stored
      gated.close();
      let returned = false;
      const blocked = commit(server, 'while S3 is blocked').then((c) => {
        returned = true;
        return c;
      });
      const heldFor = 2_000;
      await sleep(heldFor);
      assert.ok(gated.waiting() > 0, 'the chunk PUT should be waiting at the gate');
      assert.equal(returned, false, 'the commit returned while its chunk could not be stored');
      const openedAt = performance.now();
      gated.open();
      const c = await blocked;
      t.diagnostic(`commit with S3 blocked for ${heldFor} ms took ${Math.round(c.ms)} ms; returned ${Math.round(performance.now() - openedAt)} ms after S3 opened`);
      assert.ok(c.ms >= heldFor, `the commit took ${c.ms} ms, less than the ${heldFor} ms S3 was blocked`);
      assert.ok(seqOfDomain0((await repo.read())?.durable?.gtid ?? '') >= c.seq);

      const status = await semiSyncStatus(server);
      assert.equal(status.Rpl_semi_sync_master_status, 'ON');
      t.diagnostic(`after: ${JSON.stringify(status)}`);
      assert.equal(status.Rpl_semi_sync_master_no_tx, before.Rpl_semi_sync_master_no_tx, 'no commit fell back to asynchronous');
      assert.ok(Number(status.Rpl_semi_sync_master_yes_tx) >= 28, `yes_tx ${status.Rpl_semi_sync_master_yes_tx}`);

      // the baseline, same server, same agent: commits that do not wait for it
      await server.query('SET GLOBAL rpl_semi_sync_master_enabled = OFF');
      const asyncLatencies: number[] = [];
      for (let i = 0; i < 10; i++) asyncLatencies.push((await commit(server, `async ${i}`)).ms);
      t.diagnostic(`asynchronous commit latency, median of 10: ${median(asyncLatencies).toFixed(1)} ms (lossless/async: ${(median(latencies) / median(asyncLatencies)).toFixed(1)}x)`);
      await waitCaughtUp(server, repo);
    } finally {
      gated.open();
      await stopCleanly(streamer, running, close);
    }
    await assertChunksRebuildBinlog(t, server, config);
  });

  it('best-effort: a fallback to asynchronous commits is reported in the log, the state item (status --json) and the metric', async (t) => {
    const server = await withMariaDb(t, { extraArgs: [...SEMI_SYNC_ARGS.slice(0, 2), '--rpl-semi-sync-master-timeout=500'] });
    const stack = await withLocalStack(t);
    const config = { ...agentConfig(server, stack, 'lossless-fallback'), lossless: 'best-effort' as const, chunkMaxAgeMs: 5_000 };
    const gated = gatedStore(objectStoreFor(config));
    const { log, lines } = capturingLogger();
    const metrics = new MetricsRecorder(Date.now());
    const { streamer, close } = buildStreamer(config, log, 'oldest', { objects: gated.store, metrics });
    const running = streamer.run();
    const repo = new ClusterStateRepo(openStateStore(config), config.clusterId);
    try {
      await waitCaughtUp(server, repo);
      await server.query('CREATE DATABASE app');
      await server.query('CREATE TABLE app.t (id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(200))');
      // the harness's set-up commits waited out the timeout before any replica was there: count from here
      const fallbacksBefore = (await waitForState(repo, (s) => s.semiSync?.status === 'on')).semiSync!.fallbacks;
      assert.equal(metrics.take(Date.now()).SemiSyncFallback, 0);

      // S3 blocked: the commit waits out the primary's 500 ms timeout, then returns without squirrel
      gated.close();
      const c = await commit(server, 'after the fallback');
      assert.ok(c.ms >= 400, `the commit returned after ${c.ms} ms, before the primary's timeout`);
      assert.ok(seqOfDomain0((await repo.read())?.durable?.gtid ?? '') < c.seq, 'the commit is durable: S3 was not blocked');
      const off = await waitForState(repo, (s) => s.semiSync?.status === 'off');
      assert.equal(off.semiSync?.enabled, true);
      assert.ok(off.semiSync!.fallbacks >= fallbacksBefore + 1);
      const report = statusReport(off, Date.now());
      assert.match(describeSemiSync(report.semiSync), /FELL BACK to asynchronous commits .* RPO above zero/);
      assert.ok(lines().some((l) => l.level === 50 && /fell back to asynchronous commits/.test(String(l.msg))), 'no error line tells of the fallback');
      assert.ok((metrics.take(Date.now()).SemiSyncFallback ?? 0) >= 1, 'the metric does not count the fallback');

      // S3 back: the agent catches up, its replies reach the primary's position, semi-sync resumes
      gated.open();
      await waitCaughtUp(server, repo);
      await commit(server, 'resumes semi-sync'); // the primary switches back on a reply to a current event
      const resumed = await waitForState(repo, (s) => s.semiSync?.status === 'on');
      assert.ok(resumed.semiSync!.fallbacks >= fallbacksBefore + 1, 'the count of fallbacks stays');
      assert.ok(lines().some((l) => l.level === 40 && /semi-sync resumed/.test(String(l.msg))));
    } finally {
      gated.open();
      await stopCleanly(streamer, running, close);
    }
  });

  it('strict mode refuses a primary without semi-sync, naming the setting', async (t) => {
    const server = await withMariaDb(t);
    const stack = await withLocalStack(t);
    const config = { ...agentConfig(server, stack, 'lossless-off'), lossless: 'strict' as const };
    const { streamer, close } = buildStreamer(config, silentLogger, 'oldest');
    const reason = await streamer.run();
    await close();
    assert.equal(reason.kind, 'failed');
    assert.ok(reason.kind === 'failed' && reason.error instanceof ServerConfigError, String((reason as { error?: unknown }).error));
    assert.match((reason.error as Error).message, /rpl_semi_sync_master_enabled=ON/);
  });

  it('best-effort mode streams asynchronously from a primary without semi-sync, and says so', async (t) => {
    const server = await withMariaDb(t);
    const stack = await withLocalStack(t);
    const config = { ...agentConfig(server, stack, 'lossless-best'), lossless: 'best-effort' as const };
    const { log, lines } = capturingLogger();
    const { streamer, close } = buildStreamer(config, log, 'oldest');
    const running = streamer.run();
    const repo = new ClusterStateRepo(openStateStore(config), config.clusterId);
    try {
      await server.query('CREATE DATABASE app');
      await waitCaughtUp(server, repo);
      const state = await waitForState(repo, (s) => s.semiSync?.status === 'off');
      assert.deepEqual({ ...statusReport(state, Date.now()).semiSync, since: '' }, { mode: 'best-effort', enabled: false, status: 'off', fallbacks: 0, since: '' });
      assert.ok(lines().some((l) => l.level === 50 && /semi-sync off/.test(String(l.msg))), 'no error line says the primary runs without semi-sync');
    } finally {
      await stopCleanly(streamer, running, close);
    }
  });
});
