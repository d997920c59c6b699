import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chunkKey } from '../../agent/keys.js';
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
    r.heartbeatSent(0.4);
    r.heartbeatAnswered(t0 + 1000, { file: 'b.000001', pos: 5000 }, state(1000));
    r.heartbeatSent(2.5);
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
    await repo.heartbeat(1, 'agent', t0 + 1000, 15_000, { file: 'b.000001', pos: 804, at: new Date(t0).toISOString() }, 1.5);
    let v = r.take(t0 + 2000);
    assert.equal(v.HeartbeatOk, 1);
    assert.equal(v.DurableLagSeconds, 1.5);
    assert.equal(v.BytesBehind, 800); // nothing durable yet: all of the file read so far
    down = true;
    await assert.rejects(repo.heartbeat(1, 'agent', t0 + 3000, 15_000, null, 0));
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
