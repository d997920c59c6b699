/**
 * The readers of epochs' starts (the restore plan, the fake primary's timeline, the chain every
 * reader builds on) facing an epoch claimed before its primary was promoted: a placeholder start
 * and no chunk. It adds nothing to what they read, and is no reason to refuse.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BackupManifest } from '../../../agent/backup/manifest.js';
import type { ClusterState } from '../../../agent/cluster/state.js';
import { decide } from '../../../agent/cluster/transition.js';
import { chunkKey } from '../../../agent/keys.js';
import { planRestore, type ChunkInfo } from '../../../agent/restore/plan.js';
import { parseTarget } from '../../../agent/restore/target.js';
import { planTimeline } from '../../../agent/serve/timeline.js';
import { promisedChain } from '../../../agent/stream/chain.js';

const F1 = 'b.000001';
const epoch1Start = { file: F1, pos: 4, gtid: '' };
/** Epoch 1: chunks of 100 bytes in one file; chunk n holds GTID 0-1-n. */
function chunk(seq: number): ChunkInfo {
  const start = seq === 1 ? 4 : 4 + (seq - 1) * 100;
  const end = 4 + seq * 100;
  return { key: chunkKey('', 'c', { epoch: 1, seq, file: F1, start, end }), epoch: 1, seq, file: F1, start, end, sizeBytes: end - start, sha256: '', firstGtid: `0-1-${seq}`, lastGtid: `0-1-${seq}`, gtidPos: `0-1-${seq}`, serverIds: [], firstTs: 1000 + seq, lastTs: 1000 + seq, encoding: 'none' };
}
const chunks = Array.from({ length: 6 }, (_, i) => chunk(i + 1));
const backup: BackupManifest = {
  version: 1, id: 'b1', clusterId: 'c', kind: 'physical', epoch: 1,
  startedAt: new Date(1001_000).toISOString(), finishedAt: new Date(1002_000).toISOString(),
  consistentAt: new Date(1002_000).toISOString(), completedAt: new Date(1002_500).toISOString(),
  binlog: { file: F1, pos: 204, gtid: '0-1-2' },
  object: { key: 'c/base/b1/backup.mbstream.zst', sizeBytes: 1000, sha256: 'a'.repeat(64), compression: 'zstd', format: 'mbstream', rawSizeBytes: 5000 },
  server: { version: '10.11', serverId: 1, datadir: '/d' }, tools: {},
};
const last = chunks[5]!;
const epoch1: ClusterState = {
  clusterId: 'c', epoch: 1, status: 'HEALTHY', durableSeq: 6, start: epoch1Start,
  durable: { epoch: 1, seq: 6, file: F1, end: last.end, gtid: '0-1-6', key: last.key, at: '' },
  primary: { host: '10.0.0.1', port: 3306 },
  leaseHolder: '', leaseToken: '', leaseExpiresAt: 0, heartbeatAt: null, server: null,
};

/** Epoch 2 claimed for B before B restored: what the claim's write leaves, as `decide` computes it. */
function pendingEpoch2(): { state: ClusterState; starts: Map<number, { file: string; pos: number; gtid: string }> } {
  const d = decide(epoch1, { kind: 'claim-next', from: 1, seen: { durableSeq: 6, durable: epoch1.durable }, primary: { host: '10.0.0.2', port: 3306 }, claimToken: 't', leaseMarginMs: 0 }, 1);
  assert.ok(d.ok);
  assert.equal(d.state.startPending, true);
  return { state: d.state, starts: new Map([[1, epoch1Start], [2, d.state.start]]) };
}

describe('an epoch whose start is pending, read by the readers of starts', () => {
  it('has an empty chain and no problem', () => {
    const { state, starts } = pendingEpoch2();
    const chain = promisedChain(chunks.map((c) => c.key), 2, state, starts.get(2)!);
    assert.deepEqual([chain.chunks, chain.strays, chain.problems], [[], [], []]);
  });

  it('leaves the fake primary\'s timeline as epoch 1 ends at its handover', () => {
    const { state, starts } = pendingEpoch2();
    const timeline = planTimeline({ state, starts, keys: chunks.map((c) => c.key) });
    assert.deepEqual(timeline.problems, []);
    assert.deepEqual(timeline.segments.map((s) => [s.epoch, s.file, s.chunks.length]), [[1, F1, 6]]);
  });

  it('leaves a restore to latest where the handover is: epoch 1\'s durable position', () => {
    const { state, starts } = pendingEpoch2();
    const plan = planRestore({ target: parseTarget('latest'), state, starts, manifests: [backup], chunks });
    assert.deepEqual(plan.chunks.map((c) => c.seq), [3, 4, 5, 6]);
    assert.equal(plan.targetGtid, '0-1-6');
    assert.equal(state.start.gtid, '0-1-6', 'the placeholder start names the position a restore to latest reaches');
  });

  it('leaves a restore to latest the same when the history item of the pending epoch is missing (a crash after the claim\'s state write)', () => {
    const { state } = pendingEpoch2();
    const plan = planRestore({ target: parseTarget('latest'), state, starts: new Map([[1, epoch1Start]]), manifests: [backup], chunks });
    assert.equal(plan.targetGtid, '0-1-6');
  });
});
