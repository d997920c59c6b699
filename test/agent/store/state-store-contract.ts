import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it, before, after } from 'node:test';
import { ConditionFailedError } from '../../../agent/errors.js';
import type { StateStore } from '../../../agent/ports/state-store.js';

export interface StateStoreFixture {
  store: StateStore;
  close(): Promise<void>;
}

/** The one contract every StateStore adapter must meet; run against each adapter. */
export function stateStoreContract(name: string, open: () => Promise<StateStoreFixture>): void {
  describe(`StateStore contract: ${name}`, () => {
    let fx: StateStoreFixture;
    before(async () => {
      fx = await open();
    });
    after(async () => {
      await fx?.close();
    });
    const pk = () => `contract#${randomUUID()}`;

    it('creates an item only when absent', async () => {
      const p = pk();
      await fx.store.put({ pk: p, sk: 'state', epoch: 1, nested: { seq: 0, file: 'a' } }, { exists: false });
      await assert.rejects(fx.store.put({ pk: p, sk: 'state', epoch: 2 }, { exists: false }), ConditionFailedError);
      assert.deepEqual(await fx.store.get(p, 'state'), { pk: p, sk: 'state', epoch: 1, nested: { seq: 0, file: 'a' } });
      assert.equal(await fx.store.get(p, 'missing'), undefined);
    });

    it('updates only when every condition holds and returns the new item', async () => {
      const p = pk();
      await fx.store.put({ pk: p, sk: 'state', epoch: 3, seq: 10 });
      const next = await fx.store.update(p, 'state', { seq: 11, at: 'now' }, { and: [{ field: 'epoch', eq: 3 }, { field: 'seq', eq: 10 }] });
      assert.equal(next.seq, 11);
      assert.equal(next.epoch, 3);
      assert.equal(next.at, 'now');
      // a stale writer (previous seq) and a fenced writer (old epoch) both fail, and change nothing
      await assert.rejects(fx.store.update(p, 'state', { seq: 12 }, { and: [{ field: 'epoch', eq: 3 }, { field: 'seq', eq: 10 }] }), ConditionFailedError);
      await assert.rejects(fx.store.update(p, 'state', { seq: 12 }, { and: [{ field: 'epoch', eq: 2 }, { field: 'seq', eq: 11 }] }), ConditionFailedError);
      assert.equal((await fx.store.get(p, 'state'))?.seq, 11);
    });

    it('supports or, less-than and absent-field conditions (the lease shape)', async () => {
      const p = pk();
      await fx.store.put({ pk: p, sk: 'state', epoch: 1 });
      const takeLease = (holder: string, now: number) =>
        fx.store.update(p, 'state', { leaseHolder: holder, leaseExpiresAt: now + 100 }, {
          or: [{ field: 'leaseHolder', absent: true }, { field: 'leaseHolder', eq: holder }, { field: 'leaseExpiresAt', lt: now }],
        });
      await takeLease('a', 1000);
      await takeLease('a', 1050); // the same holder renews
      await assert.rejects(takeLease('b', 1100), ConditionFailedError); // a's lease runs to 1150
      const taken = await takeLease('b', 1200); // expired
      assert.equal(taken.leaseHolder, 'b');
    });

    it('queries by partition key and sort key prefix in sort key order', async () => {
      const p = pk();
      for (const sk of ['epoch#000002', 'state', 'epoch#000001', 'epoch#000010']) await fx.store.put({ pk: p, sk });
      assert.deepEqual((await fx.store.query(p, 'epoch#')).map((i) => i.sk), ['epoch#000001', 'epoch#000002', 'epoch#000010']);
      assert.equal((await fx.store.query(p)).length, 4);
    });

    it('deletes conditionally', async () => {
      const p = pk();
      await fx.store.put({ pk: p, sk: 'x', epoch: 1 });
      await assert.rejects(fx.store.delete(p, 'x', { field: 'epoch', eq: 2 }), ConditionFailedError);
      await fx.store.delete(p, 'x', { field: 'epoch', eq: 1 });
      assert.equal(await fx.store.get(p, 'x'), undefined);
    });
  });
}
