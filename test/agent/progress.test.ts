import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatProgress, Progress, progressFigures } from '../../agent/progress.js';
import { capturingLogger } from '../harness/log.js';

const MiB = 1024 * 1024;

describe('progress', () => {
  const cases = [
    { name: 'a quarter done', s: { label: 'backup', doneBytes: 12 * MiB, totalBytes: 48 * MiB, elapsedMs: 2000 }, line: 'backup  12.0 MiB / 48.0 MiB  25%  6.0 MiB/s  ETA 0:06' },
    { name: 'no total known', s: { label: 'replay', doneBytes: 512, totalBytes: undefined, elapsedMs: 1000 }, line: 'replay  512 B  512 B/s' },
    { name: 'nothing done yet', s: { label: 'fetch', doneBytes: 0, totalBytes: 100, elapsedMs: 0 }, line: 'fetch  0 B / 100 B  0%  0 B/s' },
    { name: 'a replay counted in transactions', s: { label: 'replay', doneBytes: 30_000, totalBytes: 123_836, elapsedMs: 10_000, unit: 'transactions' as const }, line: 'replay  30000 / 123836 tx  24%  3000 tx/s  ETA 0:31' },
    { name: 'an estimate exceeded', s: { label: 'backup', doneBytes: 150, totalBytes: 100, elapsedMs: 1000 }, line: 'backup  150 B / 100 B  100%  150 B/s  ETA 0:00' },
  ];
  for (const c of cases) {
    it(`formats ${c.name}`, () => assert.equal(formatProgress(c.s), c.line));
  }

  it('computes hours-long ETAs', () => {
    assert.equal(progressFigures({ label: 'x', doneBytes: 1, totalBytes: 3601, elapsedMs: 1000 }).etaSec, 3600);
  });

  it('writes structured log lines when stderr is not a terminal', () => {
    const { log, lines } = capturingLogger();
    let now = 0;
    const stream = { isTTY: false, write: () => true } as unknown as NodeJS.WriteStream;
    const p = new Progress({ label: 'backup', totalBytes: 1000, log, stream, now: () => now, logIntervalMs: 1000 });
    now = 500;
    p.add(100);
    now = 1500;
    p.add(400);
    p.done();
    const got = lines().map((l) => [l.msg, l.doneBytes, l.percent]);
    assert.deepEqual(got, [['backup: progress', 500, 50], ['backup: done', 500, 50]]);
  });

  it('logs a replay as transactions applied of the total, their rate and an ETA, from positions read (set)', () => {
    const { log, lines } = capturingLogger();
    let now = 0;
    const stream = { isTTY: false, write: () => true } as unknown as NodeJS.WriteStream;
    const p = new Progress({ label: 'replay', unit: 'transactions', totalBytes: 4000, log, stream, now: () => now, logIntervalMs: 1000 });
    now = 1000;
    p.set(1000);
    now = 2000;
    p.set(2000);
    const got = lines().map((l) => [l.msg, l.doneTransactions, l.totalTransactions, l.transactionsPerSec, l.etaSec]);
    assert.deepEqual(got, [['replay: progress', 1000, 4000, 1000, 3], ['replay: progress', 2000, 4000, 1000, 2]]);
  });
});
