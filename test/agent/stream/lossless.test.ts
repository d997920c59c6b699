import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import { buildStreamer, objectStoreFor } from '../../../agent/cli/agent.js';
import { ServerConfigError } from '../../../agent/errors.js';
import { silentLogger } from '../../../agent/log.js';
import type { ObjectStore } from '../../../agent/ports/object-store.js';
import { sleep } from '../../../agent/retry.js';
import { ClusterStateRepo } from '../../../agent/cluster/repo.js';
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
      await streamer.stop();
      const reason = await running;
      await close();
      assert.equal(reason.kind, 'stopped', reason.kind === 'failed' ? String(reason.error) : '');
    }
    await assertChunksRebuildBinlog(t, server, config);
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

  it('best-effort mode streams asynchronously from a primary without semi-sync', async (t) => {
    const server = await withMariaDb(t);
    const stack = await withLocalStack(t);
    const config = { ...agentConfig(server, stack, 'lossless-best'), lossless: 'best-effort' as const };
    const { streamer, close } = buildStreamer(config, silentLogger, 'oldest');
    const running = streamer.run();
    const repo = new ClusterStateRepo(openStateStore(config), config.clusterId);
    try {
      await server.query('CREATE DATABASE app');
      await waitCaughtUp(server, repo);
    } finally {
      await streamer.stop();
      const reason = await running;
      await close();
      assert.equal(reason.kind, 'stopped', reason.kind === 'failed' ? String(reason.error) : '');
    }
  });
});
