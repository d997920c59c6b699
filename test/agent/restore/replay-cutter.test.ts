import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeEvent, gtidOf } from '../../../agent/binlog/decode.js';
import { BinlogParser } from '../../../agent/binlog/event-parser.js';
import { TransactionTracker, transactionRole } from '../../../agent/binlog/transaction.js';
import { ProtocolError } from '../../../agent/errors.js';
import { parseMariaGtid } from '../../../agent/protocol/gtid.js';
import { ReplayCutter } from '../../../agent/restore/replay-cutter.js';
import type { StopRule } from '../../../agent/restore/plan.js';
import { readFixture } from '../binlog/fixtures.js';

const FILE = 'mariadb-repl-bin.000004';
const bytes = readFixture(`mariadb/11.8/mariadb-poc/domain_id_0/${FILE}`);

/** The fixture's transactions: GTID, end offset and commit timestamp; and chunks cut every 40 transactions. */
function analyse() {
  const parser = new BinlogParser({ source: FILE });
  const events = parser.feed(bytes);
  const tracker = new TransactionTracker();
  const txns: { gtid: string; end: number; ts: number }[] = [];
  let gtid = '';
  for (const ev of events) {
    const d = decodeEvent(ev);
    gtid = gtidOf(d) ?? gtid;
    if (tracker.step(transactionRole(d), ev.offset).ended) txns.push({ gtid, end: ev.offset + ev.bytes.length, ts: ev.header.timestamp });
  }
  const cuts = [4, ...txns.filter((_, i) => i % 40 === 39).map((t) => t.end), bytes.length].filter((v, i, a) => a.indexOf(v) === i);
  const chunks = cuts.slice(0, -1).map((start, i) => ({ key: `c/${i}`, file: FILE, start, body: bytes.subarray(start, cuts[i + 1]) }));
  return { txns, chunks };
}

function replay(from: number, stop: StopRule, backupGtid = '') {
  const { chunks } = analyse();
  const cutter = new ReplayCutter({ from: { file: FILE, pos: from }, stop, backupGtid });
  const out: Buffer[] = [];
  for (const c of chunks) {
    if (c.start + c.body.length <= from && c.start !== 4) continue; // the plan leaves these out
    out.push(...cutter.chunk(c, c.body));
    if (cutter.done) break;
  }
  return { cutter, stream: Buffer.concat(out) };
}

/** The GTIDs of the complete transactions in a replay stream (and checks it parses as a file). */
function gtidsIn(stream: Buffer): string[] {
  const parser = new BinlogParser({ source: 'stream' });
  const tracker = new TransactionTracker();
  const out: string[] = [];
  let gtid = '';
  for (const ev of parser.feed(stream)) {
    const d = decodeEvent(ev);
    gtid = gtidOf(d) ?? gtid;
    const step = tracker.step(transactionRole(d), ev.offset);
    if (step.ended) out.push(gtid);
  }
  parser.end();
  assert.equal(tracker.openSince, undefined, 'the stream ends between transactions');
  return out;
}

describe('replay cutter', () => {
  const { txns } = analyse();
  const k = 100; // the backup holds the first 100 transactions

  it('releases every transaction after the backup position, behind the file\'s leading events', () => {
    const { cutter, stream } = replay(txns[k - 1]!.end, { kind: 'end' });
    assert.deepEqual(gtidsIn(stream), txns.slice(k).map((t) => t.gtid));
    assert.equal(cutter.result.transactions, txns.length - k);
    assert.equal(cutter.result.stoppedBy, 'end');
  });

  it('stops after the target GTID, inclusive', () => {
    const target = txns[250]!.gtid;
    const { cutter, stream } = replay(txns[k - 1]!.end, { kind: 'gtid', gtids: [parseMariaGtid(target)] });
    assert.deepEqual(gtidsIn(stream), txns.slice(k, 251).map((t) => t.gtid));
    assert.equal(cutter.result.lastGtid, target);
    assert.equal(cutter.result.stoppedBy, 'gtid');
  });

  it('releases nothing when the backup already holds the target GTID', () => {
    const { cutter, stream } = replay(txns[k - 1]!.end, { kind: 'gtid', gtids: [parseMariaGtid(txns[50]!.gtid)] }, txns[k - 1]!.gtid);
    assert.equal(cutter.result.transactions, 0);
    assert.equal(stream.length, 0);
  });

  it('stops before the first commit stamped after the target second', () => {
    const stamps = [...new Set(txns.slice(k).map((t) => t.ts))];
    if (stamps.length < 2) return; // the fixture was written within one second: nothing to cut
    const second = stamps[0]!;
    const { cutter, stream } = replay(txns[k - 1]!.end, { kind: 'time', lastCommitSec: second });
    const expected = [];
    for (const t of txns.slice(k)) {
      if (t.ts > second) break;
      expected.push(t.gtid);
    }
    assert.deepEqual(gtidsIn(stream), expected);
    assert.equal(cutter.result.stoppedBy, 'time');
  });

  it('refuses a chunk with a damaged event and releases nothing of it', () => {
    const { chunks } = analyse();
    const cutter = new ReplayCutter({ from: { file: FILE, pos: 4 }, stop: { kind: 'end' }, backupGtid: '' });
    const first = cutter.chunk(chunks[0]!, chunks[0]!.body);
    const damaged = Buffer.from(chunks[1]!.body);
    damaged[200] = damaged[200]! ^ 0xff;
    assert.throws(() => cutter.chunk(chunks[1]!, damaged), ProtocolError);
    assert.deepEqual(gtidsIn(Buffer.concat(first)), txns.slice(0, 40).map((t) => t.gtid));
  });
});
