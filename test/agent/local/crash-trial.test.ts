import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ExitCode } from '../../../agent/cli/command.js';
import { planTrial, runCrashTrial, type CrashTrialOptions } from '../../../agent/local/crash-trial.js';
import { withLocalStack } from '../../harness/stack.js';

/** Short loads: the test checks the invariants, the benchmark (npm run crash-trials) the numbers. */
const LOAD_MS = { min: 800, max: 2000 };

describe('crash trials', () => {
  it('draws the same choices from the same seed', () => {
    const opts = { seed: 42, mode: 'lossless', faults: 'mixed' } as const;
    assert.deepEqual(planTrial(opts), planTrial(opts));
    assert.notDeepEqual(planTrial(opts), planTrial({ ...opts, seed: 43 }));
    assert.equal(planTrial({ ...opts, kill: 'both' }).kill, 'both');
    assert.equal(planTrial({ ...opts, faults: 's3-slow' }).faults, 's3-slow');
  });

  it('loses no acknowledged commit in lossless mode whatever is killed, and the fenced old primary changes nothing', async (t) => {
    const stack = await withLocalStack(t);
    const trials: Omit<CrashTrialOptions, 'mode'>[] = [
      { seed: 1001, kill: 'server', faults: 's3-errors' },
      { seed: 1002, kill: 'agent', faults: 's3-slow' },
      { seed: 1003, kill: 'both', faults: 'mixed' },
    ];
    for (const trial of trials) {
      const r = await runCrashTrial(stack, { ...trial, mode: 'lossless', loadMs: LOAD_MS });
      t.diagnostic(`seed ${trial.seed}, kill ${r.plan.kill}, ${r.plan.faults}: acked ${r.acked}, durable ${r.durable}, restored ${r.restored}, lost ${r.lost}; S3 ${JSON.stringify(r.s3)}`);
      assert.deepEqual(r.problems, [], `seed ${trial.seed}`);
      assert.ok(r.acked > 0, `seed ${trial.seed}: no commit was acknowledged before the kill`);
      assert.equal(r.lost, 0);
      assert.equal(r.restored, r.acked);
      assert.equal(r.durable + r.withoutGtid, r.acked, 'every acknowledged commit whose GTID is known is within the durable position');
      assert.equal(r.restoredGtid, r.durableGtid);
      assert.equal(r.fencedExit, ExitCode.fenced);
    }
  });

  it('restores no partial transaction and nothing beyond the durable position in async mode', async (t) => {
    const stack = await withLocalStack(t);
    const r = await runCrashTrial(stack, { seed: 2001, mode: 'async', kill: 'agent', faults: 's3-slow', loadMs: LOAD_MS });
    t.diagnostic(`async: acked ${r.acked}, durable ${r.durable}, restored ${r.restored}, lost ${r.lost}`);
    assert.deepEqual(r.problems, []);
    assert.ok(r.acked > 0);
    assert.ok(r.restored >= r.durable && r.restored <= r.durable + r.withoutGtid, 'the restore holds exactly the acknowledged commits within the durable position');
    assert.equal(r.fencedExit, ExitCode.fenced);
  });
});
