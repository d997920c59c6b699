import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkCrash, gtidPositionMap, type CrashObservation } from '../../../agent/local/crash-check.js';

/** Commits 1..n acknowledged with GTIDs 0-1-(10+i); the restore holds 1..restoredUpTo in both tables, at position 0-1-(10+restoredUpTo). */
function observation(over: Partial<CrashObservation> & { n?: number; restoredUpTo?: number } = {}): CrashObservation {
  const n = over.n ?? 5;
  const upTo = over.restoredUpTo ?? n;
  const rows = new Set(Array.from({ length: upTo }, (_, i) => i + 1));
  return {
    mode: 'lossless',
    acked: Array.from({ length: n }, (_, i) => ({ n: i + 1, gtid: `0-1-${11 + i}`, at: 0 })),
    restoredA: rows,
    restoredB: new Set(rows),
    restoredGtid: `0-1-${10 + upTo}`,
    durableGtid: `0-1-${10 + upTo}`,
    ...over,
  };
}

describe('crash trial checker', () => {
  it('passes a restore that holds every acknowledged commit up to the durable position', () => {
    const v = checkCrash(observation());
    assert.deepEqual(v, { acked: 5, durable: 5, withoutGtid: 0, restored: 5, lost: 0, problems: [] });
  });

  it('reports an acknowledged commit that the restore does not hold as lost in lossless mode', () => {
    // GIVEN commit 6 acknowledged (a fabricated row) but neither durable nor restored
    const o = observation();
    const v = checkCrash({ ...o, acked: [...o.acked, { n: 6, gtid: '0-1-16', at: 0 }] });
    assert.equal(v.lost, 1);
    assert.equal(v.durable, 5);
    assert.match(v.problems.join('\n'), /acknowledged commits lost in lossless mode: numbers 6/);
  });

  it('counts a commit whose GTID the client never read as acknowledged, and checks it as any other', () => {
    const o = observation();
    const acked = o.acked.map((c) => (c.n === 5 ? { n: 5, at: 0 } : c));
    assert.deepEqual(checkCrash({ ...o, acked }), { acked: 5, durable: 4, withoutGtid: 1, restored: 5, lost: 0, problems: [] });
    const missing = new Set([1, 2, 3, 4]);
    const v = checkCrash({ ...o, acked, restoredA: missing, restoredB: missing, restoredGtid: '0-1-14', durableGtid: '0-1-14' });
    assert.deepEqual({ lost: v.lost, problems: v.problems }, { lost: 1, problems: ['acknowledged commits lost in lossless mode: numbers 5'] });
  });

  it('counts a lost commit in async mode without calling it a problem', () => {
    const v = checkCrash(observation({ mode: 'async', restoredUpTo: 3 }));
    assert.deepEqual({ lost: v.lost, restored: v.restored, durable: v.durable, problems: v.problems }, { lost: 2, restored: 3, durable: 3, problems: [] });
  });

  it('reports a transaction restored in one table only', () => {
    const o = observation();
    const b = new Set(o.restoredB);
    b.delete(4);
    const v = checkCrash({ ...o, restoredB: b });
    assert.match(v.problems.join('\n'), /partial transactions restored: numbers 4 /);
  });

  it('reports a commit beyond the durable position that was restored, and a position that is not the durable one', () => {
    const v = checkCrash(observation({ mode: 'async', durableGtid: '0-1-13' }));
    assert.match(v.problems.join('\n'), /beyond the durable position were restored: numbers 4, 5/);
    assert.match(v.problems.join('\n'), /GTID position 0-1-15 is not the durable position 0-1-13/);
  });

  it('reports a commit within the durable position that is missing', () => {
    const o = observation({ mode: 'async' });
    const a = new Set(o.restoredA);
    const b = new Set(o.restoredB);
    a.delete(2);
    b.delete(2);
    const v = checkCrash({ ...o, restoredA: a, restoredB: b });
    assert.match(v.problems.join('\n'), /within the durable position are missing from the restore: numbers 2/);
  });

  it('reads every domain of a GTID position', () => {
    assert.deepEqual([...gtidPositionMap('0-1-17, 7-2-5')], [[0, 17], [7, 5]]);
    assert.equal(gtidPositionMap('').size, 0);
  });
});
