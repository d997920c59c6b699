import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareBinlogPoints, PendingAcks } from '../../../agent/stream/acks.js';
import { Chunker, type ChunkerEvent } from '../../../agent/stream/chunker.js';

describe('semi-sync replies wait for the durable position', () => {
  it('answers, in order, exactly the requests the durable position covers, never one past it', () => {
    const acks = new PendingAcks();
    acks.requested({ file: 'b.000001', end: 100 });
    acks.requested({ file: 'b.000001', end: 250 });
    acks.requested({ file: 'b.000001', end: 400 });
    assert.deepEqual(acks.covered({ file: 'b.000001', end: 99 }), []);
    assert.deepEqual(acks.covered({ file: 'b.000001', end: 300 }), [
      { file: 'b.000001', end: 100 },
      { file: 'b.000001', end: 250 },
    ]);
    assert.equal(acks.size, 1);
    assert.deepEqual(acks.covered({ file: 'b.000001', end: 300 }), [], 'each request is answered once');
    acks.requested({ file: 'b.000002', end: 50 });
    assert.deepEqual(acks.covered({ file: 'b.000001', end: 400 }), [{ file: 'b.000001', end: 400 }]);
    assert.deepEqual(acks.covered({ file: 'b.000002', end: 49 }), []);
    assert.deepEqual(acks.covered({ file: 'b.000003', end: 4 }), [{ file: 'b.000002', end: 50 }], 'a later file covers every earlier one');
    assert.equal(acks.size, 0);
  });

  it('ignores a request read again after a reconnect', () => {
    const acks = new PendingAcks();
    acks.requested({ file: 'b.000001', end: 100 });
    acks.requested({ file: 'b.000001', end: 100 });
    assert.equal(acks.size, 1);
  });

  it('orders files by their number, not as text', () => {
    assert.ok(compareBinlogPoints({ file: 'b.999999', end: 10 }, { file: 'b.1000000', end: 4 }) < 0);
    assert.ok(compareBinlogPoints({ file: 'b.000002', end: 4 }, { file: 'b.000001', end: 900 }) > 0);
    assert.equal(compareBinlogPoints({ file: 'b.000001', end: 7 }, { file: 'b.000001', end: 7 }), 0);
  });

  it('the chunker says when a finished transaction waits for a reply, whatever its size and age limits', () => {
    const chunker = new Chunker({ maxBytes: 1 << 20, maxAgeMs: 60_000 });
    const ev = (start: number, kind: 'G' | 'Q' | 'X', ackRequested = false): ChunkerEvent => ({
      file: 'b.000001',
      start,
      bytes: Buffer.alloc(10, kind.charCodeAt(0)),
      timestampSec: 1,
      boundary: kind === 'X',
      endsFile: false,
      ...(kind === 'G' ? { gtid: `0-1-${start}` } : {}),
      ...(ackRequested ? { ackRequested } : {}),
    });
    // a commit without a request waits for the limits
    assert.deepEqual([ev(4, 'G'), ev(14, 'Q'), ev(24, 'X')].flatMap((e) => chunker.push(e, 0)), []);
    assert.equal(chunker.acksWaiting, false);
    assert.deepEqual([ev(34, 'G'), ev(44, 'Q'), ev(54, 'X', true)].flatMap((e) => chunker.push(e, 0)), []);
    assert.equal(chunker.acksWaiting, true);
    // the next transaction, still open, is not waited for
    assert.deepEqual([ev(64, 'G'), ev(74, 'Q')].flatMap((e) => chunker.push(e, 0)), []);
    const cut = chunker.flush();
    assert.equal(cut.length, 1);
    assert.deepEqual([cut[0]!.start, cut[0]!.end, cut[0]!.events], [4, 64, 6], 'both finished transactions, ending at the requested commit');
    assert.equal(chunker.acksWaiting, false);
    assert.deepEqual(chunker.push(ev(84, 'X'), 0), []);
    assert.equal(chunker.acksWaiting, false, 'a commit that asked for nothing');
  });
});
