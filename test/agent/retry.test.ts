import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UnavailableError } from '../../agent/errors.js';
import { retrying, sleep } from '../../agent/retry.js';

describe('retrying', () => {
  it('ends a backoff wait at once when its signal aborts, throwing the last failure', async () => {
    const stop = new AbortController();
    let attempts = 0;
    const started = Date.now();
    const run = retrying(
      async () => {
        attempts++;
        throw new UnavailableError('s3', `attempt ${attempts}`);
      },
      { policy: { baseMs: 60_000, maxMs: 60_000 }, signal: stop.signal },
    );
    setTimeout(() => stop.abort(), 20);
    await assert.rejects(run, /attempt 1/);
    assert.equal(attempts, 1);
    assert.ok(Date.now() - started < 5_000);
  });

  it('sleeps the full time without a signal, and not at all with an aborted one', async () => {
    const t0 = Date.now();
    await sleep(30);
    assert.ok(Date.now() - t0 >= 25);
    const t1 = Date.now();
    await sleep(60_000, AbortSignal.abort());
    assert.ok(Date.now() - t1 < 1_000);
  });
});
