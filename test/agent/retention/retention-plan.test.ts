import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BackupManifest } from '../../../agent/backup/manifest.js';
import { chunkKey } from '../../../agent/keys.js';
import type { ChunkInfo } from '../../../agent/restore/plan.js';
import { parseDuration } from '../../../agent/retention/prune.js';
import { backupIdTimeMs, planRetention, type RetentionInput } from '../../../agent/retention/retention-plan.js';
import type { ClusterState } from '../../../agent/cluster/repo.js';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 0, 1);
/** Three files of 3 chunks each. */
const chunks: ChunkInfo[] = Array.from({ length: 9 }, (_, i) => {
  const seq = i + 1;
  const file = `b.00000${Math.floor(i / 3) + 1}`;
  const start = i % 3 === 0 ? 4 : (i % 3) * 100;
  const end = (i % 3 + 1) * 100;
  return { key: chunkKey('', 'c', { epoch: 1, seq, file, start, end }), epoch: 1, seq, file, start, end, sizeBytes: end - start, sha256: '', firstGtid: '', lastGtid: '', gtidPos: '', serverIds: [], firstTs: 0, lastTs: 0, encoding: 'none' };
});
function backup(id: string, file: string, pos: number, atMs: number): BackupManifest {
  const at = new Date(atMs).toISOString();
  return {
    version: 1, id, clusterId: 'c', kind: 'physical', epoch: 1, startedAt: at, finishedAt: at, consistentAt: at, completedAt: at,
    binlog: { file, pos, gtid: '' },
    object: { key: `c/base/${id}/backup.mbstream.zst`, sizeBytes: 1000, sha256: 'a'.repeat(64), compression: 'zstd', format: 'mbstream', rawSizeBytes: 1 },
    server: { version: '', serverId: 1, datadir: '' }, tools: {},
  };
}
const b1 = backup('20260101T000000Z-physical', 'b.000001', 150, T0);
const b2 = backup('20260101T100000Z-physical', 'b.000002', 150, T0 + 10 * HOUR);
const b3 = backup('20260101T200000Z-physical', 'b.000003', 150, T0 + 20 * HOUR);
const state = { clusterId: 'c', epoch: 1, durable: null, start: { file: 'b.000001', pos: 4, gtid: '' } } as unknown as ClusterState;
const keysById = new Map([b1, b2, b3].map((b) => [b.id, [b.object.key, `c/base/${b.id}/manifest.json`]]));
const input = (nowMs: number, keepMs: number, over: Partial<RetentionInput> = {}): RetentionInput => ({ nowMs, keepMs, state, manifests: [b1, b2, b3], incomplete: [], keysById, chunks, ...over });

describe('retention plan', () => {
  const cases: { name: string; input: RetentionInput; keep: string[]; chunksDeleted: number[]; through?: number }[] = [
    { name: 'a window reaching before every backup keeps everything', input: input(T0 + 21 * HOUR, 24 * HOUR), keep: [b1.id, b2.id, b3.id], chunksDeleted: [] },
    { name: 'a window starting between two backups keeps the older one of them', input: input(T0 + 21 * HOUR, 15 * HOUR), keep: [b1.id, b2.id, b3.id].slice(0), chunksDeleted: [] },
    { name: 'a window starting after the second backup drops the first and its file', input: input(T0 + 21 * HOUR, 10 * HOUR), keep: [b2.id, b3.id], chunksDeleted: [1, 2, 3], through: 3 },
    { name: 'a window after the newest backup still keeps it (never the newest complete backup)', input: input(T0 + 100 * HOUR, 1 * HOUR), keep: [b3.id], chunksDeleted: [1, 2, 3, 4, 5, 6], through: 6 },
    { name: 'no complete backup: nothing is deleted', input: input(T0 + 100 * HOUR, 1 * HOUR, { manifests: [] }), keep: [], chunksDeleted: [] },
  ];
  // the second case: window start 6h, only b1 is consistent before it -> b1 is the floor
  for (const c of cases) {
    it(`${c.name}`, () => {
      const plan = planRetention(c.input);
      assert.deepEqual(plan.keepBackups, c.keep);
      assert.deepEqual(plan.deleteChunks, c.chunksDeleted.map((s) => chunks[s - 1]!.key));
      assert.equal(plan.prunedThrough.get(1), c.through);
      // never a chunk at or after the oldest kept backup's file
      if (plan.floor) for (const k of plan.deleteChunks) assert.ok(!k.includes(plan.floor.binlog.file));
    });
  }

  it('places the window by each backup\'s consistency point, not by when its command started', () => {
    // GIVEN a logical backup (in b.000002) whose dump started at 10:00 but took its snapshot at
    // 10:30, so it holds commits up to 10:30
    const late = { ...b2, kind: 'logical' as const, consistentAt: new Date(T0 + 10.5 * HOUR).toISOString() };
    const manifests = [b1, late, b3];
    // WHEN the window starts at 10:10, between its start and its snapshot
    const inside = planRetention(input(T0 + 20.5 * HOUR, 10 * HOUR + 20 * 60_000, { manifests }));
    // THEN a target at 10:10 still needs b1: b1 and its binlog file are kept
    assert.equal(inside.floor?.id, b1.id);
    assert.deepEqual(inside.keepBackups, [b1.id, late.id, b3.id]);
    assert.deepEqual(inside.deleteChunks, []);
    // and once the window starts after the snapshot (10:40), b1 and its file go
    const after = planRetention(input(T0 + 20.5 * HOUR, 10 * HOUR - 10 * 60_000, { manifests }));
    assert.equal(after.floor?.id, late.id);
    assert.deepEqual(after.deleteBackups.map((b) => b.id), [b1.id]);
    assert.deepEqual(after.deleteChunks, [1, 2, 3].map((seq) => chunks[seq - 1]!.key));
  });

  it('deletes old incomplete backups, and keeps recent ones (they may be waiting to complete)', () => {
    const old = { id: '20251231T000000Z-physical', keys: ['c/base/20251231T000000Z-physical/backup.mbstream.zst'] };
    const recent = { id: '20260101T205900Z-physical', keys: ['c/base/20260101T205900Z-physical/backup.mbstream.zst'] };
    const plan = planRetention(input(T0 + 21 * HOUR, 10 * HOUR, { incomplete: [old, recent] }));
    assert.deepEqual(plan.deleteBackups.map((b) => b.id), [b1.id, old.id]);
  });

  it('reads durations and backup id times', () => {
    assert.equal(parseDuration('7d'), 7 * 24 * HOUR);
    assert.equal(parseDuration('1d12h'), 36 * HOUR);
    assert.throws(() => parseDuration('7 days'), /invalid duration/);
    assert.equal(backupIdTimeMs(b2.id), T0 + 10 * HOUR);
  });
});
