import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClusterStateRepo } from '../../../agent/cluster/repo.js';
import { UnavailableError } from '../../../agent/errors.js';
import type { ObjectStore } from '../../../agent/ports/object-store.js';
import { INVENTORY_ATTEMPTS, readInventory } from '../../../agent/restore/inventory.js';
import { sha256Hex } from '../../../agent/store/bytes.js';
import { MemoryObjectStore } from '../../../agent/store/memory-object-store.js';
import { MemoryStateStore } from '../../../agent/store/memory-state-store.js';

/** A store whose listings fail `failures` times (as an S3 answering 500 past the SDK's own retries) before they work. */
function flakyListings(inner: ObjectStore, failures: number): ObjectStore & { listed: number } {
  const store = Object.create(inner) as ObjectStore & { listed: number };
  store.listed = 0;
  store.list = (prefix, startAfter) => {
    store.listed++;
    if (failures-- > 0) throw new UnavailableError('s3', `injected: list ${prefix}`);
    return inner.list(prefix, startAfter);
  };
  return store;
}

describe('restore inventory', () => {
  const setup = async () => {
    const state = new MemoryStateStore();
    await new ClusterStateRepo(state, 'c1').claimFirstEpoch({ file: 'b.000001', pos: 4, gtid: '' }, 'me', Date.now(), 60_000);
    const objects = new MemoryObjectStore();
    const body = Buffer.alloc(10, 1);
    await objects.putIfAbsent('c1/binlog/000001/000000000001-b.000001-4-14', body, sha256Hex(body), { sha256: sha256Hex(body) });
    return { state, objects };
  };

  it('reads the listings again after a transient failure (an unattended failover restore must not end on one)', async () => {
    const { state, objects } = await setup();
    const flaky = flakyListings(objects, 2);
    const inv = await readInventory(flaky, state, '', 'c1', { withMetadata: false });
    assert.deepEqual(inv.chunks.map((c) => c.key), ['c1/binlog/000001/000000000001-b.000001-4-14']);
    assert.ok(flaky.listed > 2);
  });

  it('gives up after a bounded number of attempts, with the store error', async () => {
    const { state, objects } = await setup();
    const flaky = flakyListings(objects, 1_000);
    await assert.rejects(readInventory(flaky, state, '', 'c1', { withMetadata: false }), UnavailableError);
    assert.equal(flaky.listed, INVENTORY_ATTEMPTS);
  });
});
