import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BackupManifest } from '../../../agent/backup/manifest.js';
import { RestoreRefusedError } from '../../../agent/errors.js';
import { chunkKey } from '../../../agent/keys.js';
import { describePlan, planRestore, type ChunkInfo, type PlanInput } from '../../../agent/restore/plan.js';
import { parseTarget } from '../../../agent/restore/target.js';
import type { ClusterState } from '../../../agent/cluster/repo.js';

const F1 = 'b.000001';
const F2 = 'b.000002';
/** Chunks of 100 bytes, 10 per file; chunk n holds GTID 0-1-n and is stamped second 1000+n. */
function chunk(seq: number): ChunkInfo {
  const file = seq <= 10 ? F1 : F2;
  const i = (seq - 1) % 10;
  const start = i === 0 ? 4 : 4 + i * 100;
  const end = 4 + (i + 1) * 100;
  return { key: chunkKey('', 'c', { epoch: 1, seq, file, start, end }), epoch: 1, seq, file, start, end, sizeBytes: end - start, sha256: '', firstGtid: `0-1-${seq}`, lastGtid: `0-1-${seq}`, gtidPos: '', serverIds: [], firstTs: 1000 + seq, lastTs: 1000 + seq, encoding: 'none' };
}
const chunks = Array.from({ length: 20 }, (_, i) => chunk(i + 1));

function backup(id: string, file: string, pos: number, gtidSeq: number, consistentSec: number): BackupManifest {
  return {
    version: 1, id, clusterId: 'c', kind: 'physical', epoch: 1,
    startedAt: new Date(consistentSec * 1000 - 500).toISOString(), finishedAt: new Date(consistentSec * 1000).toISOString(),
    consistentAt: new Date(consistentSec * 1000).toISOString(), completedAt: new Date(consistentSec * 1000 + 100).toISOString(),
    binlog: { file, pos, gtid: `0-1-${gtidSeq}` },
    object: { key: `c/base/${id}/backup.mbstream.zst`, sizeBytes: 1000, sha256: 'a'.repeat(64), compression: 'zstd', format: 'mbstream', rawSizeBytes: 5000 },
    server: { version: '10.11', serverId: 1, datadir: '/d' }, tools: {},
  };
}
const early = backup('1-early', F1, 304, 3, 1003); // after chunk 3 (ends at 304)
const late = backup('2-late', F2, 404, 14, 1014); // after chunk 14

function state(durableSeq = 20): ClusterState {
  const d = chunks[durableSeq - 1]!;
  return {
    clusterId: 'c', epoch: 1, status: 'HEALTHY', durableSeq, start: { file: F1, pos: 4, gtid: '' },
    durable: { epoch: 1, seq: durableSeq, file: d.file, end: d.end, gtid: d.lastGtid, key: d.key, at: '' },
    leaseHolder: '', leaseToken: '', leaseExpiresAt: 0, heartbeatAt: null, server: null,
  };
}

const input = (over: Partial<PlanInput>): PlanInput => ({ target: parseTarget('latest'), state: state(), starts: new Map(), manifests: [early, late], chunks, ...over });

describe('restore plan', () => {
  const cases: { name: string; input: PlanInput; backup: string; seqs: number[]; header?: number; targetGtid: string }[] = [
    { name: 'latest: the newest backup and every chunk after it', input: input({}), backup: '2-late', seqs: [15, 16, 17, 18, 19, 20], header: 11, targetGtid: '0-1-20' },
    { name: 'a time before the newer backup: the older one', input: input({ target: parseTarget(`time:${new Date(1008_500).toISOString()}`) }), backup: '1-early', seqs: [4, 5, 6, 7, 8, 9], header: 1, targetGtid: '0-1-9' },
    { name: 'a GTID after the newer backup', input: input({ target: parseTarget('gtid:0-1-16') }), backup: '2-late', seqs: [15, 16], header: 11, targetGtid: '0-1-16' },
    { name: 'a GTID between the backups', input: input({ target: parseTarget('gtid:0-1-12') }), backup: '1-early', seqs: [4, 5, 6, 7, 8, 9, 10, 11, 12], header: 1, targetGtid: '0-1-12' },
    { name: 'a backup at the start of its file needs no header chunk', input: input({ manifests: [backup('3', F2, 4, 10, 1010)] }), backup: '3', seqs: [11, 12, 13, 14, 15, 16, 17, 18, 19, 20], targetGtid: '0-1-20' },
    { name: 'the durable position before the newer backup: the older one', input: input({ state: state(12) }), backup: '1-early', seqs: [4, 5, 6, 7, 8, 9, 10, 11, 12], header: 1, targetGtid: '0-1-12' },
    { name: 'a pruned prefix below the marker', input: input({ chunks: chunks.slice(10), prunedThrough: new Map([[1, 10]]) }), backup: '2-late', seqs: [15, 16, 17, 18, 19, 20], header: 11, targetGtid: '0-1-20' },
  ];
  for (const c of cases) {
    it(`plans ${c.name}`, () => {
      const plan = planRestore(c.input);
      assert.equal(plan.backup.id, c.backup);
      assert.deepEqual(plan.chunks.map((x) => x.seq), c.seqs);
      assert.equal(plan.header?.seq, c.header);
      assert.equal(plan.targetGtid, c.targetGtid);
      assert.equal(plan.bytes.chunks, [...plan.chunks, ...(plan.header ? [plan.header] : [])].reduce((n, x) => n + x.sizeBytes, 0));
      assert.ok(describePlan(plan).some((l) => l.includes(c.backup)));
    });
  }

  const refusals: { name: string; input: PlanInput; object: RegExp }[] = [
    { name: 'a missing chunk', input: input({ chunks: chunks.filter((x) => x.seq !== 17) }), object: /seq 17/ },
    { name: 'the durable chunk missing (S3 holds less than DynamoDB promises)', input: input({ chunks: chunks.slice(0, 19) }), object: new RegExp(chunks[19]!.key) },
    { name: 'a missing chunk above the prune marker', input: input({ chunks: chunks.slice(12), prunedThrough: new Map([[1, 10]]) }), object: /seq 12/ },
    { name: 'no backup before the time', input: input({ target: parseTarget(`time:${new Date(1001_000).toISOString()}`) }), object: /base backups/ },
    { name: 'a GTID beyond the durable position', input: input({ target: parseTarget('gtid:0-1-21') }), object: /gtid:0-1-21/ },
    { name: 'no backup at all', input: input({ manifests: [] }), object: /base backups/ },
  ];
  for (const c of refusals) {
    it(`refuses ${c.name}`, () => {
      assert.throws(() => planRestore(c.input), (err) => {
        assert.ok(err instanceof RestoreRefusedError, String(err));
        assert.match(err.object, c.object);
        return true;
      });
    });
  }
});

describe('restore plan across a handover', () => {
  // GIVEN epoch 1 handed over at seq 14 (chunks 15..20 of it landed, never promised) and epoch 2
  // with two chunks on a new file
  const e2 = [1, 2].map((seq): ChunkInfo => {
    const start = seq === 1 ? 4 : 104;
    const end = 4 + seq * 100;
    return { ...chunk(seq), key: chunkKey('', 'c', { epoch: 2, seq, file: 'n.000001', start, end }), epoch: 2, file: 'n.000001', start, end, lastGtid: `0-2-${seq}`, firstGtid: `0-2-${seq}` };
  });
  const handedOver = state(14).durable!;
  const current: ClusterState = {
    ...state(14), epoch: 2, durableSeq: 2, start: { file: 'n.000001', pos: 4, gtid: '0-1-14' },
    durable: { epoch: 2, seq: 2, file: 'n.000001', end: 204, gtid: '0-1-14,0-2-2', key: e2[1]!.key, at: '' },
    handovers: [{ epoch: 1, durable: handedOver, at: '' }],
  };
  const starts = new Map([[1, { file: F1, pos: 4, gtid: '' }], [2, current.start]]);

  it('ends epoch 1 at its handover and goes on with epoch 2, past chunks epoch 1 never promised', () => {
    const plan = planRestore(input({ state: current, starts, chunks: [...chunks.filter((c) => c.seq !== 16), ...e2], manifests: [early] }));
    assert.deepEqual(plan.chunks.map((c) => `${c.epoch}/${c.seq}`), [...range(4, 14).map((s) => `1/${s}`), '2/1', '2/2']);
    assert.equal(plan.warnings, undefined);
  });

  it('does not start from a backup past the handover (it holds transactions epoch 1 never promised)', () => {
    const past = backup('3-past', F2, 704, 17, 1017); // after chunk 17, past the handover at 14
    const plan = planRestore(input({ state: current, starts, chunks: [...chunks, ...e2], manifests: [early, late, past] }));
    assert.equal(plan.backup.id, '2-late');
  });

  it('warns when an older epoch has no recorded handover (a cluster from before handovers) and reads it to its newest chunk', () => {
    const plan = planRestore(input({ state: { ...current, handovers: [] }, starts, chunks: [...chunks, ...e2], manifests: [early] }));
    assert.match(plan.warnings?.[0] ?? '', /no recorded handover/);
    assert.ok(describePlan(plan).some((l) => l.startsWith('warning:')));
  });
});

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
