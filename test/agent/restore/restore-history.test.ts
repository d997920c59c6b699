import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lastRestore, ratesFrom, recordRestore, restoreRates, type RestoreRecord } from '../../../agent/restore/restore-history.js';
import { DEFAULT_RESTORE_RATES } from '../../../agent/restore/rto.js';
import { MemoryObjectStore } from '../../../agent/store/memory-object-store.js';

const MiB = 2 ** 20;
const big: RestoreRecord = {
  at: '2026-11-30T10:00:00.000Z',
  backupId: 'b1',
  backupKind: 'physical',
  backupStoredBytes: 360 * MiB,
  backupRawBytes: 2000 * MiB,
  planMs: 600,
  fetchMs: 9_000,
  prepareMs: 8_000,
  startMs: 2_000,
  replayMs: 60_000,
  finishMs: 1_400,
  replayTransactions: 123_000,
  replayTxPerSec: 2050,
};

describe('restore rates from the last restore', () => {
  it('measures every phase that did enough work: fetch, prepare and replay rates, and the fixed costs', () => {
    const r = ratesFrom(big);
    assert.deepEqual([r.fetchBytesPerSec, r.prepareBytesPerSec, r.replayTxPerSec, r.fixedSec], [Math.round((360 * MiB) / 9), 250 * MiB, 2050, 4]);
    assert.equal(r.source, 'the last restore (2026-11-30T10:00:00.000Z, backup b1): fetch, prepare, replay, fixed');
  });

  it('keeps the default rate of a phase too small to measure (20 transactions say nothing of a million)', () => {
    const r = ratesFrom({ ...big, replayTransactions: 20, replayMs: 300, backupStoredBytes: 1 * MiB });
    assert.equal(r.replayTxPerSec, DEFAULT_RESTORE_RATES.replayTxPerSec);
    assert.equal(r.fetchBytesPerSec, DEFAULT_RESTORE_RATES.fetchBytesPerSec);
    assert.match(r.source, /: prepare, fixed; fetch, replay from the defaults$/);
  });

  it('takes no prepare rate from a logical backup (it has no prepare phase)', () => {
    assert.equal(ratesFrom({ ...big, backupKind: 'logical', prepareMs: 0 }).prepareBytesPerSec, DEFAULT_RESTORE_RATES.prepareBytesPerSec);
  });

  it('predicts with the newest record of the cluster, and with the defaults before the first restore', async () => {
    const objects = new MemoryObjectStore();
    assert.equal(await restoreRates(objects, 'p/', 'c'), DEFAULT_RESTORE_RATES);
    await recordRestore(objects, 'p/', 'c', big);
    await recordRestore(objects, 'p/', 'c', { ...big, at: '2026-11-30T11:00:00.000Z', replayMs: 30_000 });
    await recordRestore(objects, 'p/', 'other', { ...big, at: '2026-11-30T12:00:00.000Z', replayMs: 10_000 });
    assert.equal((await lastRestore(objects, 'p/', 'c'))?.at, '2026-11-30T11:00:00.000Z');
    assert.equal((await restoreRates(objects, 'p/', 'c')).replayTxPerSec, 4100);
  });
});
