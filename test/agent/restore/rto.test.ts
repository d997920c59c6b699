import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RestorePlan } from '../../../agent/restore/plan.js';
import { DEFAULT_RESTORE_RATES, describePrediction, predictRestore } from '../../../agent/restore/rto.js';

const MiB = 2 ** 20;
const plan = (o: { kind: 'physical' | 'logical'; stored: number; raw: number; from: string; to: string }) =>
  ({ backup: { kind: o.kind, object: { sizeBytes: o.stored, rawSizeBytes: o.raw }, binlog: { gtid: o.from } }, targetGtid: o.to, bytes: { backup: o.stored, chunks: 0 } }) as unknown as RestorePlan;
const rates = { fetchBytesPerSec: 10 * MiB, prepareBytesPerSec: 100 * MiB, replayTxPerSec: 1000, fixedSec: 5, source: 'test rates' };

describe('restore time prediction', () => {
  const cases = [
    { name: 'a physical backup: fetch, prepare and replay add up with the fixed cost', p: plan({ kind: 'physical', stored: 100 * MiB, raw: 1000 * MiB, from: '0-1-100', to: '0-1-60100' }), seconds: 5 + 10 + 10 + 60 },
    { name: 'a logical backup has no prepare', p: plan({ kind: 'logical', stored: 50 * MiB, raw: 500 * MiB, from: '0-1-1', to: '0-1-1' }), seconds: 5 + 5 },
    { name: 'transactions of every domain count', p: plan({ kind: 'logical', stored: 0, raw: 0, from: '0-1-10,7-1-5', to: '0-1-1010,7-1-2005' }), seconds: 5 + 3 },
  ];
  for (const c of cases) it(c.name, () => assert.equal(predictRestore(c.p, rates).seconds, c.seconds));

  it('uses the documented default rates when none are given, and says so', () => {
    const p = predictRestore(plan({ kind: 'physical', stored: 0, raw: 0, from: '0-1-0', to: `0-1-${DEFAULT_RESTORE_RATES.replayTxPerSec * 60}` }));
    assert.equal(p.replaySec, 60);
    assert.equal(p.seconds, 60 + DEFAULT_RESTORE_RATES.fixedSec);
    assert.match(describePrediction(p), /^predicted: +1:03 \(fetch 0:00, prepare 0:00, replay \d+ tx 1:00 at \d+ tx\/s; default rates/);
  });
});
