import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { agentStateDir, objectStoreFor } from '../../agent/cli/agent.js';
import { ClusterStateRepo } from '../../agent/cluster/repo.js';
import { binlogPrefix, chunkKey, parseChunkKey } from '../../agent/keys.js';
import { AgentProcess } from '../../agent/local/agent-process.js';
import { sleep } from '../../agent/retry.js';
import { openStateStore } from '../../agent/wiring.js';
import { withMariaDb } from '../harness/mariadb.js';
import { withLocalStack } from '../harness/stack.js';
import { agentConfig, waitCaughtUp } from '../harness/streaming.js';
import { silentLogger } from '../../agent/log.js';
import { bytesBehind, emfLine, MeteredObjectStore, MeteredStateRepo, MetricsRecorder, MetricsReporter, metricUnits } from '../../agent/metrics.js';
import type { StateStore } from '../../agent/ports/state-store.js';
import { MemoryObjectStore } from '../../agent/store/memory-object-store.js';
import { MemoryStateStore } from '../../agent/store/memory-state-store.js';
import { sha256Hex } from '../../agent/store/bytes.js';
import { UnavailableError } from '../../agent/errors.js';

const t0 = Date.parse('2026-01-01T00:00:00Z');

describe('agent metrics (CloudWatch embedded metric format)', () => {
  it('writes one line that declares every metric it carries, in the Squirrel namespace, by ClusterId', () => {
    const line = JSON.parse(emfLine('shop', { DurableLagSeconds: 0.25, BytesBehind: 1200, ChunksUploaded: 5, ChunkBytes: 40_000, HeartbeatOk: 1, BackupAgeSeconds: 3600, SemiSyncFallback: 0 }, t0)) as Record<string, unknown>;
    assert.deepEqual(line, {
      _aws: {
        Timestamp: t0,
        CloudWatchMetrics: [
          {
            Namespace: 'Squirrel',
            Dimensions: [['ClusterId']],
            Metrics: [
              { Name: 'DurableLagSeconds', Unit: 'Seconds' },
              { Name: 'BytesBehind', Unit: 'Bytes' },
              { Name: 'ChunksUploaded', Unit: 'Count' },
              { Name: 'ChunkBytes', Unit: 'Bytes' },
              { Name: 'HeartbeatOk', Unit: 'None' },
              { Name: 'BackupAgeSeconds', Unit: 'Seconds' },
              { Name: 'SemiSyncFallback', Unit: 'Count' },
            ],
          },
        ],
      },
      ClusterId: 'shop',
      DurableLagSeconds: 0.25,
      BytesBehind: 1200,
      ChunksUploaded: 5,
      ChunkBytes: 40_000,
      HeartbeatOk: 1,
      BackupAgeSeconds: 3600,
      SemiSyncFallback: 0,
    });
  });

  it('leaves out, declaration and value, a metric that is not known', () => {
    const line = JSON.parse(emfLine('shop', { ChunksUploaded: 0, HeartbeatOk: 0 }, t0)) as { _aws: { CloudWatchMetrics: { Metrics: { Name: string }[] }[] } } & Record<string, unknown>;
    assert.deepEqual(line._aws.CloudWatchMetrics[0]!.Metrics.map((m) => m.Name), ['ChunksUploaded', 'HeartbeatOk']);
    assert.equal('BackupAgeSeconds' in line, false);
    assert.equal('DurableLagSeconds' in line, false);
  });

  it('writes a single line of JSON', () => {
    assert.equal(emfLine('shop', { HeartbeatOk: 1 }, t0).includes('\n'), false);
  });

  const behind = [
    { name: 'nothing read yet', read: null, durable: null, bytes: undefined },
    { name: 'caught up', read: { file: 'b.000001', pos: 900 }, durable: { file: 'b.000001', end: 900 }, bytes: 0 },
    { name: 'behind in one file', read: { file: 'b.000001', pos: 900 }, durable: { file: 'b.000001', end: 400 }, bytes: 500 },
    { name: 'nothing durable yet', read: { file: 'b.000001', pos: 900 }, durable: null, bytes: 896 },
    { name: 'across a rotation (a lower bound)', read: { file: 'b.000002', pos: 1004 }, durable: { file: 'b.000001', end: 400 }, bytes: 1000 },
    { name: 'the position already past what was read', read: { file: 'b.000001', pos: 900 }, durable: { file: 'b.000002', end: 300 }, bytes: 0 },
  ];
  for (const c of behind) {
    it(`counts bytes behind: ${c.name}`, () => assert.equal(bytesBehind(c.read, c.durable), c.bytes));
  }

  it('reports the largest lag and bytes behind of the interval, counts chunks since the last line, then starts over', () => {
    const r = new MetricsRecorder(t0);
    const state = (end: number) => ({ durable: { file: 'b.000001', end } }) as never;
    r.heartbeatSent({ lagSeconds: 0.4 });
    r.heartbeatAnswered(t0 + 1000, { file: 'b.000001', pos: 5000 }, state(1000));
    r.heartbeatSent({ lagSeconds: 2.5 });
    r.heartbeatAnswered(t0 + 2000, { file: 'b.000001', pos: 6000 }, state(5500));
    r.chunkStored(4000);
    r.chunkStored(500);
    r.newestBackup(t0 - 7200_000);
    assert.deepEqual(r.take(t0 + 60_000), { DurableLagSeconds: 2.5, BytesBehind: 4000, ChunksUploaded: 2, ChunkBytes: 4500, HeartbeatOk: 1, BackupAgeSeconds: 7260, SemiSyncFallback: 0 });
    // nothing happened in the next interval: no renewal, no chunk; lag unknown
    assert.deepEqual(r.take(t0 + 120_000), { ChunksUploaded: 0, ChunkBytes: 0, HeartbeatOk: 0, BackupAgeSeconds: 7320, SemiSyncFallback: 0 });
  });

  it('says the heartbeat is not ok when the latest answered renewal failed, even after one succeeded', () => {
    const r = new MetricsRecorder(t0);
    r.heartbeatAnswered(t0 + 1000, null, { durable: null } as never);
    r.heartbeatAnswered(t0 + 2000, null, undefined);
    assert.equal(r.take(t0 + 3000).HeartbeatOk, 0);
    r.heartbeatAnswered(t0 + 4000, null, { durable: null } as never);
    assert.equal(r.take(t0 + 5000).HeartbeatOk, 1);
  });

  it('counts the binlog bytes of chunk objects only, not staging objects or backups, and not a chunk already stored', async () => {
    const r = new MetricsRecorder(t0);
    const store = new MeteredObjectStore(new MemoryObjectStore(), r);
    const key = chunkKey('', 'shop', { epoch: 1, seq: 1, file: 'b.000001', start: 4, end: 1004 });
    const body = Buffer.alloc(1000);
    await store.putIfAbsent(key, body, sha256Hex(body), {});
    await assert.rejects(store.putIfAbsent(key, body, sha256Hex(body), {}));
    await store.putIfAbsent('shop/staging/abc', body, sha256Hex(body), {});
    await store.copyIfAbsent('shop/staging/abc', chunkKey('', 'shop', { epoch: 1, seq: 2, file: 'b.000001', start: 1004, end: 2004 }), {});
    await store.putIfAbsent('shop/base/x/manifest.json', body, sha256Hex(body), {});
    const v = r.take(t0 + 1000);
    assert.equal(v.ChunksUploaded, 2);
    assert.equal(v.ChunkBytes, 2000);
  });

  it('observes the heartbeat through the state repo: its lag, its answer and the durable position after it', async () => {
    const r = new MetricsRecorder(t0);
    const inner = new MemoryStateStore();
    let down = false;
    const store: StateStore = {
      get: (pk, sk) => inner.get(pk, sk),
      query: (pk, p) => inner.query(pk, p),
      put: (item, c) => inner.put(item, c),
      delete: (pk, sk, c) => inner.delete(pk, sk, c),
      update: (pk, sk, set, c) => (down ? Promise.reject(new UnavailableError('state store', 'down')) : inner.update(pk, sk, set, c)),
    };
    const repo = new MeteredStateRepo(store, 'shop', undefined, r);
    await repo.claimFirstEpoch({ file: 'b.000001', pos: 4, gtid: '' }, 'agent', t0, 15_000);
    await repo.heartbeat(1, 'agent', t0 + 1000, 15_000, { server: { file: 'b.000001', pos: 804, at: new Date(t0).toISOString() }, lagSeconds: 1.5 });
    let v = r.take(t0 + 2000);
    assert.equal(v.HeartbeatOk, 1);
    assert.equal(v.DurableLagSeconds, 1.5);
    assert.equal(v.BytesBehind, 800); // nothing durable yet: all of the file read so far
    down = true;
    await assert.rejects(repo.heartbeat(1, 'agent', t0 + 3000, 15_000, { server: null }));
    v = r.take(t0 + 4000);
    assert.equal(v.HeartbeatOk, 0);
  });

  it('the reporter writes one parseable line per emit and reads the newest backup for its age', async () => {
    const lines: string[] = [];
    let now = t0;
    const r = new MetricsRecorder(t0);
    const reporter = new MetricsReporter({ clusterId: 'shop', recorder: r, write: (l) => lines.push(l), intervalMs: 60_000, newestBackup: () => Promise.resolve(t0 - 1000), log: silentLogger, now: () => now });
    reporter.start();
    reporter.stop();
    await new Promise((resolve) => setImmediate(resolve));
    now += 60_000;
    reporter.emit();
    assert.equal(lines.length, 1);
    const line = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.equal(line.BackupAgeSeconds, 61);
    assert.equal(line.ClusterId, 'shop');
    assert.deepEqual(Object.keys(metricUnits).filter((n) => n in line), ['ChunksUploaded', 'ChunkBytes', 'HeartbeatOk', 'BackupAgeSeconds', 'SemiSyncFallback']);
  });
});

describe('agent metrics from a real agent', () => {
  it('a streaming agent writes a line a second whose chunk counts add up to the chunks stored, with the heartbeat ok and no backup known', async (t) => {
    // GIVEN an agent with a metrics file, streaming a server that takes writes
    const server = await withMariaDb(t);
    const stack = await withLocalStack(t);
    const config = agentConfig(server, stack, `metrics-${randomBytes(4).toString('hex')}`);
    t.after(() => rmSync(agentStateDir(config), { recursive: true, force: true }));
    const dir = mkdtempSync(join(tmpdir(), 'squirrel-metrics-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const metricsFile = join(dir, 'metrics.log');
    const agent = AgentProcess.start({
      ...stack.env,
      SQUIRREL_CLUSTER_ID: config.clusterId,
      SQUIRREL_MYSQL_URL: server.url,
      SQUIRREL_CHUNK_MAX_AGE_MS: '50',
      SQUIRREL_HEARTBEAT_INTERVAL_MS: '200',
      SQUIRREL_LEASE_MS: '10000',
      SQUIRREL_METRICS_FILE: metricsFile,
      SQUIRREL_METRICS_INTERVAL_MS: '1000',
    });
    t.after(() => agent.kill9());
    const repo = new ClusterStateRepo(openStateStore(config), config.clusterId);
    await server.query('CREATE DATABASE app');
    await server.query('CREATE TABLE app.t (id INT PRIMARY KEY AUTO_INCREMENT, pad VARCHAR(200))');
    for (let i = 0; i < 50; i++) await server.query('INSERT INTO app.t (pad) VALUES (?)', [`row ${i} `.repeat(10)]);
    await waitCaughtUp(server, repo);

    // WHEN two more lines are written after everything is durable
    // whole lines only: the last may be half written
    const read = () => (existsSync(metricsFile) ? readFileSync(metricsFile, 'utf8').split('\n').slice(0, -1) : []);
    const caughtUpAt = read().length;
    for (let i = 0; read().length < caughtUpAt + 2; i++) {
      assert.ok(i < 200, `no new metrics lines: ${read().length} lines; agent log: ${agent.log.slice(-2000)}`);
      await sleep(50);
    }
    const lines = read().map((l) => JSON.parse(l) as Record<string, number | string> & { _aws: { CloudWatchMetrics: { Namespace: string; Metrics: { Name: string }[] }[] } });

    // THEN every line is EMF in the Squirrel namespace for this cluster
    for (const l of lines) {
      assert.equal(l.ClusterId, config.clusterId);
      assert.equal(l._aws.CloudWatchMetrics[0]!.Namespace, 'Squirrel');
      for (const m of l._aws.CloudWatchMetrics[0]!.Metrics) assert.equal(typeof l[m.Name], 'number', `${m.Name} declared without a value`);
      // no base backup exists: its age is left out, not made up
      assert.equal('BackupAgeSeconds' in l, false);
      assert.equal(l.SemiSyncFallback, 0);
    }
    // AND the chunk counts and bytes over all lines are the chunks in the store
    let chunks = 0;
    let bytes = 0;
    for await (const o of objectStoreFor(config).list(binlogPrefix('', config.clusterId))) {
      const ref = parseChunkKey(o.key);
      if (!ref) continue;
      chunks++;
      bytes += ref.end - ref.start;
    }
    assert.ok(chunks > 0);
    assert.equal(lines.reduce((n, l) => n + (l.ChunksUploaded as number), 0), chunks);
    assert.equal(lines.reduce((n, l) => n + (l.ChunkBytes as number), 0), bytes);
    // AND once caught up, the heartbeat is ok, nothing is behind and the lag is small
    const last = lines[lines.length - 1]!;
    assert.equal(last.HeartbeatOk, 1);
    assert.equal(last.BytesBehind, 0);
    assert.ok((last.DurableLagSeconds as number) >= 0 && (last.DurableLagSeconds as number) < 5, `lag ${last.DurableLagSeconds}`);
    assert.equal(await agent.stop(), 0);
  });
});
