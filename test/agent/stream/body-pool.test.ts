import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BodyPool } from '../../../agent/stream/body-pool.js';
import { Chunker, type ChunkerEvent } from '../../../agent/stream/chunker.js';

describe('BodyPool', () => {
  it('hands a buffer given back out again, sized to what is asked', () => {
    const pool = new BodyPool(64, 2);
    const a = pool.take(40);
    assert.equal(a.length, 40);
    pool.give(a);
    assert.equal(pool.freeBuffers, 1);
    const b = pool.take(64);
    assert.equal(b.length, 64);
    assert.equal(b.buffer, a.buffer, 'the same memory carries the next body');
    assert.equal(pool.freeBuffers, 0);
  });

  it('takes each body back once, so two chunks never share a buffer', () => {
    const pool = new BodyPool(64, 4);
    const a = pool.take(10);
    pool.give(a);
    pool.give(a);
    assert.equal(pool.freeBuffers, 1);
    const b = pool.take(10);
    const c = pool.take(10);
    assert.notEqual(b.buffer, c.buffer);
  });

  it('gives a body larger than its buffers memory of its own, and does not keep it', () => {
    const pool = new BodyPool(64, 4);
    const big = pool.take(100);
    assert.equal(big.length, 100);
    pool.give(big);
    assert.equal(pool.freeBuffers, 0);
  });

  it('keeps no more than its limit of free buffers', () => {
    const pool = new BodyPool(64, 1);
    const a = pool.take(1);
    const b = pool.take(1);
    pool.give(a);
    pool.give(b);
    assert.equal(pool.freeBuffers, 1);
  });

  it('ignores a buffer it did not hand out', () => {
    const pool = new BodyPool(64, 4);
    pool.give(Buffer.alloc(64));
    assert.equal(pool.freeBuffers, 0);
  });
});

describe('Chunker with a BodyPool', () => {
  it('cuts bodies byte-identical to the events, also into a reused buffer that held another chunk', () => {
    const pool = new BodyPool(64, 2);
    const chunker = new Chunker({ maxBytes: 32, maxAgeMs: 1000, bodies: pool });
    const ev = (start: number, fill: number, boundary: boolean): ChunkerEvent => ({
      file: 'f.000001',
      start,
      bytes: Buffer.alloc(12, fill),
      timestampSec: 1,
      boundary,
      endsFile: false,
    });
    const first = [ev(4, 1, false), ev(16, 2, false), ev(28, 3, true)];
    const [c1] = first.flatMap((e) => chunker.push(e, 0));
    assert.ok(c1?.body);
    assert.deepEqual(c1.body, Buffer.concat(first.map((e) => e.bytes)));
    pool.give(c1.body);
    const second = [ev(40, 7, false), ev(52, 8, false), ev(64, 9, true)];
    const [c2] = second.flatMap((e) => chunker.push(e, 0));
    assert.ok(c2?.body);
    assert.equal(c2.body.buffer, c1.body.buffer, 'the pooled buffer was reused');
    assert.deepEqual(c2.body, Buffer.concat(second.map((e) => e.bytes)));
  });

  it('keeps an open transaction\'s bytes when an age cut takes the finished ones, and grows past the pooled size', () => {
    const pool = new BodyPool(16, 2);
    const chunker = new Chunker({ maxBytes: 1000, maxAgeMs: 10, bodies: pool });
    let pos = 4;
    let fill = 0;
    const ev = (boundary: boolean): ChunkerEvent => {
      const e: ChunkerEvent = { file: 'f.000001', start: pos, bytes: Buffer.alloc(10, ++fill), timestampSec: 1, boundary, endsFile: false };
      pos += 10;
      return e;
    };
    const finished = [ev(false), ev(true)];
    const open = [ev(false), ev(false)];
    for (const e of [...finished, ...open]) assert.deepEqual(chunker.push(e, 0), []);
    const [aged] = chunker.tick(10);
    assert.deepEqual(aged?.body, Buffer.concat(finished.map((e) => e.bytes)), 'the finished transaction (20 bytes: more than a pooled buffer)');
    const rest = [ev(false), ev(true)];
    for (const e of rest) assert.deepEqual(chunker.push(e, 20), []);
    const [last] = chunker.flush();
    assert.deepEqual(last?.body, Buffer.concat([...open, ...rest].map((e) => e.bytes)), 'the open transaction, moved to a new buffer, then finished');
    assert.equal(last?.start, 24);
    assert.equal(last?.end, 64);
  });
});
