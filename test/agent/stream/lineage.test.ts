import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { EventType } from '../../../agent/binlog/event-types.js';
import { ChunkContinuation, gtidShortfall } from '../../../agent/stream/lineage.js';

describe('gtidShortfall: does the server\'s GTID position contain the durable one', () => {
  const cases: { name: string; server: string; durable: string; lacks?: RegExp }[] = [
    { name: 'an empty durable position is contained in anything', server: '', durable: '' },
    { name: 'the same position', server: '0-1-10', durable: '0-1-10' },
    { name: 'the server is further on', server: '0-1-12', durable: '0-1-10' },
    { name: 'another server id in the same domain counts by seq_no', server: '0-2-11', durable: '0-1-10' },
    { name: 'the server has more domains', server: '0-1-10,7-1-3', durable: '0-1-10' },
    { name: 'the server is behind in a domain', server: '0-1-9', durable: '0-1-10', lacks: /domain 0: the durable position is at 0-1-10, the server only at 0-1-9/ },
    { name: 'the server lacks a domain', server: '0-1-10', durable: '0-1-10,7-1-3', lacks: /domain 7: the durable position is at 7-1-3, the server has no transaction of this domain/ },
    { name: 'an empty server', server: '', durable: '0-1-10', lacks: /the server's GTID position \(empty\) does not contain the durable 0-1-10/ },
    { name: 'MySQL: a superset', server: '3e11fa47-71ca-11e1-9e33-c80aa9429562:1-20', durable: '3e11fa47-71ca-11e1-9e33-c80aa9429562:1-10' },
    { name: 'MySQL: a hole', server: '3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5', durable: '3e11fa47-71ca-11e1-9e33-c80aa9429562:1-10', lacks: /lacks part of the durable/ },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = gtidShortfall(c.server, c.durable);
      if (c.lacks) assert.match(got ?? '(contained)', c.lacks);
      else assert.equal(got, undefined);
    });
  }
});

describe('ChunkContinuation: does the server\'s binlog end with the chunk\'s bytes', () => {
  const chunk = Buffer.from('aaaabbbbbbcc');
  const ref = { file: 'bin.000002', start: 100, end: 112 };
  const ev = (start: number, bytes: string, file = 'bin.000002') => ({ file, artificial: false, type: EventType.QUERY, start, end: start + bytes.length, bytes: Buffer.from(bytes) });
  const artificial = (type: number) => ({ file: 'bin.000002', artificial: true, type, start: null, end: null, bytes: Buffer.alloc(19) });

  it('is the same when every event matches up to the chunk\'s end, artificial events aside', () => {
    const c = new ChunkContinuation(chunk, ref);
    assert.equal(c.push(artificial(EventType.ROTATE)), undefined);
    assert.equal(c.push(artificial(EventType.FORMAT_DESCRIPTION)), undefined);
    assert.equal(c.push(ev(100, 'aaaa')), undefined);
    assert.equal(c.push(ev(104, 'bbbbbb')), undefined);
    assert.deepEqual(c.push(ev(110, 'cc')), { same: true });
  });

  it('names the first differing byte', () => {
    const c = new ChunkContinuation(chunk, ref);
    c.push(ev(100, 'aaaa'));
    const v = c.push(ev(104, 'bbbXbb'));
    assert.equal(v?.same, false);
    assert.match(v && !v.same ? v.difference : '', /the server's byte at bin\.000002:107 differs from the chunk's/);
  });

  it('differs when the server\'s events fall elsewhere', () => {
    const c = new ChunkContinuation(chunk, ref);
    c.push(ev(100, 'aaaa'));
    const v = c.push(ev(105, 'bbbbb'));
    assert.match(v && !v.same ? v.difference : '', /an event at bin\.000002:105, where the chunk has one at 104/);
  });

  it('differs when the server\'s last event runs past the chunk\'s end', () => {
    const c = new ChunkContinuation(chunk, ref);
    c.push(ev(100, 'aaaa'));
    c.push(ev(104, 'bbbbbb'));
    const v = c.push(ev(110, 'ccdd'));
    assert.equal(v?.same, false);
  });

  it('is short when the server\'s file ends first: a heartbeat, or the next file', () => {
    const c = new ChunkContinuation(chunk, ref);
    c.push(ev(100, 'aaaa'));
    const hb = c.push(artificial(EventType.HEARTBEAT));
    assert.match(hb && !hb.same ? hb.difference : '', /the server's bin\.000002 ends at byte 104, before the chunk's end at 112/);
    const next = new ChunkContinuation(chunk, ref);
    next.push(ev(100, 'aaaa'));
    const rotated = next.push(ev(4, 'xxxx', 'bin.000003'));
    assert.match(rotated && !rotated.same ? rotated.difference : '', /its binlog went on in bin\.000003/);
  });

  it('compares a chunk too large to hold by the SHA-256 of its bytes', () => {
    const sha256 = createHash('sha256').update(chunk).digest('hex');
    const same = new ChunkContinuation({ sha256 }, ref);
    same.push(ev(100, 'aaaa'));
    same.push(ev(104, 'bbbbbb'));
    assert.deepEqual(same.push(ev(110, 'cc')), { same: true });
    const other = new ChunkContinuation({ sha256 }, ref);
    other.push(ev(100, 'aaaa'));
    other.push(ev(104, 'bbbXbb'));
    const v = other.push(ev(110, 'cc'));
    assert.match(v && !v.same ? v.difference : '', new RegExp(`the server's bytes bin\\.000002:100-112 hash to sha-256 [0-9a-f]{64}, the chunk's are ${sha256}`));
  });
});
