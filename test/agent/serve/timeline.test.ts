import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chunkKey } from '../../../agent/keys.js';
import type { ClusterState } from '../../../agent/cluster/repo.js';
import { planTimeline } from '../../../agent/serve/timeline.js';

const key = (epoch: number, seq: number, file: string, start: number, end: number) => chunkKey('', 'c', { epoch, seq, file, start, end });

function state(epoch: number, durableKey: string, seq: number): ClusterState {
  return {
    clusterId: 'c',
    epoch,
    status: 'HEALTHY',
    durable: { epoch, seq, file: '', end: 0, gtid: '', key: durableKey, at: '' },
    durableSeq: seq,
    start: { file: 'b.000001', pos: 4, gtid: '' },
    leaseHolder: '',
    leaseToken: '',
    leaseExpiresAt: 0,
    heartbeatAt: null,
    server: null,
  };
}

describe('timeline of segments', () => {
  const e1 = [key(1, 1, 'a.000001', 4, 100), key(1, 2, 'a.000001', 100, 200), key(1, 3, 'a.000002', 4, 50)];
  const e2 = [key(2, 1, 'b.000001', 4, 80), key(2, 2, 'b.000001', 80, 90), key(2, 3, 'b.000001', 90, 95)];
  const starts = new Map([
    [1, { file: 'a.000001', pos: 4, gtid: '' }],
    [2, { file: 'b.000001', pos: 4, gtid: '0-1-10' }],
  ]);

  it('cuts every epoch\'s chain into one segment per file, oldest first, up to the durable position', () => {
    const t = planTimeline({ state: state(2, e2[1]!, 2), starts, keys: [...e2, ...e1] });
    assert.deepEqual(t.problems, []);
    assert.deepEqual(
      t.segments.map((s) => [s.epoch, s.file, s.chunks.map((c) => c.seq)]),
      [
        [1, 'a.000001', [1, 2]],
        [1, 'a.000002', [3]],
        [2, 'b.000001', [1, 2]],
      ],
    );
  });

  it('serves the epochs before a gap and reports the gap', () => {
    const t = planTimeline({ state: state(2, e2[2]!, 3), starts, keys: [...e1, e2[0]!, e2[2]!] });
    assert.deepEqual(t.segments.map((s) => s.epoch), [1, 1]);
    assert.match(t.problems[0]!.message, /seq 2 is missing/);
  });
});
