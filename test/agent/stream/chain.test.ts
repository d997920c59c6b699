import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chunkKey } from '../../../agent/keys.js';
import { buildChain, promisedChain } from '../../../agent/stream/chain.js';
import type { DurablePosition } from '../../../agent/cluster/repo.js';

const k = (seq: number, file: string, start: number, end: number, epoch = 1) => chunkKey('p/', 'c', { epoch, seq, file, start, end });
const start = { file: 'b.000001', pos: 4, gtid: '' };
const durableAt = (key: string, seq: number): DurablePosition => ({ epoch: 1, seq, file: 'x', end: 0, gtid: '', key, at: '' });

describe('chunk chain', () => {
  const good = [k(1, 'b.000001', 4, 100), k(2, 'b.000001', 100, 250), k(3, 'b.000002', 4, 90), k(4, 'b.000002', 90, 120)];

  const cases: { name: string; keys: string[]; durable: DurablePosition; chain?: number; problems: RegExp[]; strays?: number }[] = [
    { name: 'a clean chain across a file switch', keys: good, durable: durableAt(good[3]!, 4), chain: 4, problems: [] },
    { name: 'chunks past the durable position are strays', keys: [...good, k(5, 'b.000002', 120, 130)], durable: durableAt(good[2]!, 3), chain: 3, problems: [], strays: 2 },
    { name: 'a missing chunk in the middle', keys: [good[0]!, good[2]!, good[3]!], durable: durableAt(good[3]!, 4), problems: [/seq 2 is missing/] },
    { name: 'a gap inside a file', keys: [good[0]!, k(2, 'b.000001', 110, 250), good[2]!, good[3]!], durable: durableAt(good[3]!, 4), problems: [/no chunk with seq 1 ends at b.000001:110/] },
    { name: 'the durable chunk itself missing', keys: good.slice(0, 3), durable: durableAt(good[3]!, 4), problems: [/not in the object store/] },
    { name: 'a chain that does not begin where the epoch began', keys: [k(1, 'b.000001', 50, 100)], durable: durableAt(k(1, 'b.000001', 50, 100), 1), problems: [/starts at b.000001:4 but its first chunk starts at b.000001:50/] },
    { name: 'a skipped file', keys: [k(1, 'b.000001', 4, 100), k(2, 'b.000003', 4, 50)], durable: durableAt(k(2, 'b.000003', 4, 50), 2), problems: [/does not end its file/] },
  ];
  for (const c of cases) {
    it(`finds ${c.name}`, () => {
      const chain = buildChain(c.keys, 1, start, c.durable);
      assert.equal(chain.problems.length, c.problems.length, JSON.stringify(chain.problems));
      c.problems.forEach((re, i) => assert.match(chain.problems[i]!.message, re));
      if (c.chain !== undefined) assert.equal(chain.chunks.length, c.chain);
      if (c.strays !== undefined) assert.equal(chain.strays.length, c.strays);
    });
  }

  it('walks back from the durable key past a stray with the same seq', () => {
    // a crash left seq 2 cut at 200; the restarted agent cut seq 2 at 250 and went on
    const keys = [good[0]!, k(2, 'b.000001', 100, 200), good[1]!, k(3, 'b.000001', 250, 300)];
    const chain = buildChain(keys, 1, start, durableAt(keys[3]!, 3));
    assert.deepEqual(chain.problems, []);
    assert.deepEqual(chain.chunks.map((c) => c.end), [100, 250, 300]);
    assert.deepEqual(chain.strays.map((c) => c.end), [200]);
  });

  it('uses the caller\'s knowledge of file ends when given', () => {
    const chain = buildChain(good, 1, start, durableAt(good[3]!, 4), { endsFile: () => false });
    assert.match(chain.problems[0]!.message, /does not end its file/);
  });

  it('ignores other epochs', () => {
    const chain = buildChain([...good, k(1, 'b.000009', 4, 10, 2)], 1, start, durableAt(good[3]!, 4));
    assert.equal(chain.chunks.length, 4);
    assert.equal(chain.strays.length, 0);
  });

  it('begins after a pruned prefix without calling it missing', () => {
    const chain = buildChain(good.slice(2), 1, start, durableAt(good[3]!, 4), { prunedThroughSeq: 2 });
    assert.deepEqual(chain.problems, []);
    assert.deepEqual(chain.chunks.map((c) => c.seq), [3, 4]);
  });

  it('still finds a chunk missing after the pruned prefix', () => {
    const chain = buildChain([good[0]!, good[1]!, good[3]!], 1, start, durableAt(good[3]!, 4), { prunedThroughSeq: 1 });
    assert.match(chain.problems[0]!.message, /seq 3 is missing/);
  });
});

describe('the promised chain of an older epoch', () => {
  const e1 = [k(1, 'b.000001', 4, 100), k(2, 'b.000001', 100, 250), k(4, 'b.000001', 300, 350)];
  const e2 = [k(1, 'n.000001', 4, 80, 2)];
  const keys = [...e1, ...e2];
  const durable2: DurablePosition = { epoch: 2, seq: 1, file: 'n.000001', end: 80, gtid: '', key: e2[0]!, at: '' };
  const handover1 = { epoch: 1, durable: durableAt(e1[1]!, 2), at: '' };

  it('ends at the handover, so a chunk stored past an upload that never landed is a stray and no reason to refuse', () => {
    // GIVEN epoch 1's agent died with seq 3 in flight and seq 4 stored; the claim of epoch 2 recorded seq 2
    const chain = promisedChain(keys, 1, { epoch: 2, durable: durable2, handovers: [handover1] }, start);
    assert.deepEqual(chain.problems, []);
    assert.deepEqual(chain.chunks.map((c) => c.seq), [1, 2]);
    assert.deepEqual(chain.strays.map((c) => c.seq), [4]);
    assert.equal(chain.warning, undefined);
  });

  it('ends at the handover even when the next chunk landed whole (uploaded, never made durable)', () => {
    const landed = [...e1.slice(0, 2), k(3, 'b.000001', 250, 300), e1[2]!];
    const chain = promisedChain([...landed, ...e2], 1, { epoch: 2, durable: durable2, handovers: [handover1] }, start);
    assert.deepEqual(chain.chunks.map((c) => c.seq), [1, 2]);
    assert.deepEqual(chain.strays.map((c) => c.seq), [3, 4]);
  });

  it('is empty when the handover says no chunk of the epoch was durable', () => {
    const chain = promisedChain(keys, 1, { epoch: 2, durable: durable2, handovers: [{ epoch: 1, durable: null, at: '' }] }, start);
    assert.deepEqual([chain.chunks.length, chain.problems.length, chain.strays.length], [0, 0, 3]);
  });

  it('is read to its newest chunk, with a warning, when no handover was recorded (a cluster from before handovers)', () => {
    const chain = promisedChain(keys, 1, { epoch: 2, durable: durable2 }, start);
    assert.match(chain.warning ?? '', /no recorded handover/);
    assert.match(chain.problems[0]?.message ?? '', /seq 3 is missing/);
  });
});
