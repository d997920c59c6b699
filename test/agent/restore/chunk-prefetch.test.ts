import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { silentLogger } from '../../../agent/log.js';
import type { StoredObject } from '../../../agent/ports/object-store.js';
import { PrefetchingObjectStore, prefetchBudgetBytes } from '../../../agent/restore/chunk-prefetch.js';
import { sha256Hex } from '../../../agent/store/bytes.js';
import { MemoryObjectStore } from '../../../agent/store/memory-object-store.js';

/** A memory store that records each GET, and can hold GETs until released or fail them. */
class WatchedStore extends MemoryObjectStore {
  readonly gets: string[] = [];
  failing = new Set<string>();
  override async get(key: string): Promise<StoredObject | undefined> {
    this.gets.push(key);
    if (this.failing.has(key)) {
      this.failing.delete(key);
      throw new Error(`injected failure of ${key}`);
    }
    return super.get(key);
  }
}

/** Lets the prefetch's reads (each a few event-loop turns in the memory store) run to where they stop. */
const settle = async () => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};

async function storeOf(n: number, size = 100): Promise<{ inner: WatchedStore; items: { key: string; sizeBytes: number }[] }> {
  const inner = new WatchedStore();
  const items = [];
  for (let i = 0; i < n; i++) {
    const body = Buffer.alloc(size, i);
    const key = `c/${String(i).padStart(3, '0')}`;
    await inner.putIfAbsent(key, body, sha256Hex(body), {});
    items.push({ key, sizeBytes: size });
  }
  return { inner, items };
}

describe('chunk prefetch', () => {
  it('reads the listed objects ahead, in order, and answers their reads from memory', async () => {
    const { inner, items } = await storeOf(5);
    const store = new PrefetchingObjectStore(inner, { budgetBytes: 10_000, log: silentLogger });
    store.prefetch(items);
    await settle();
    assert.deepEqual(inner.gets, items.map((i) => i.key));
    for (const [n, item] of items.entries()) assert.deepEqual((await store.get(item.key))?.body, Buffer.alloc(100, n));
    assert.equal(inner.gets.length, 5, 'every read was answered by the prefetch');
    assert.deepEqual({ ...store.stats }, { fetched: 5, hits: 5, misses: 0, bytes: 500 });
    // handed over once: a second read goes to the store
    assert.ok(await store.get(items[0]!.key));
    assert.equal(inner.gets.length, 6);
  });

  it('holds at most its budget ahead of the reader, and goes on as bodies are handed over', async () => {
    const { inner, items } = await storeOf(10);
    const store = new PrefetchingObjectStore(inner, { budgetBytes: 300, log: silentLogger });
    store.prefetch(items);
    await settle();
    assert.equal(inner.gets.length, 3, 'three 100-byte bodies fit a 300-byte budget');
    await store.get(items[0]!.key);
    await settle();
    assert.equal(inner.gets.length, 4);
    for (const item of items.slice(1)) await store.get(item.key);
    assert.equal(inner.gets.length, 10, 'no body was read twice');
    assert.equal(store.stats.hits, 10);
  });

  it('forgets the objects a reader passed over, and reads one it asks for before its turn', async () => {
    const { inner, items } = await storeOf(8);
    const store = new PrefetchingObjectStore(inner, { budgetBytes: 300, log: silentLogger });
    store.prefetch(items);
    await settle();
    // the reader jumps to the sixth: the first three held are dropped, the sixth is read at once
    assert.deepEqual((await store.get(items[5]!.key))?.body, Buffer.alloc(100, 5));
    await settle();
    assert.deepEqual(inner.gets, [...items.slice(0, 3), items[5], items[6], items[7]].map((i) => i!.key), 'the fourth and fifth are never read');
    assert.equal(store.stats.misses, 1);
    assert.deepEqual((await store.get(items[6]!.key))?.body, Buffer.alloc(100, 6));
    assert.equal(store.stats.hits, 1);
  });

  it('reads again, when asked, an object whose prefetch failed', async () => {
    const { inner, items } = await storeOf(2);
    inner.failing.add(items[0]!.key);
    const store = new PrefetchingObjectStore(inner, { budgetBytes: 10_000, log: silentLogger });
    store.prefetch(items);
    assert.deepEqual((await store.get(items[0]!.key))?.body, Buffer.alloc(100, 0));
    assert.deepEqual(inner.gets, [items[0]!.key, items[1]!.key, items[0]!.key]);
    assert.equal(store.stats.misses, 1);
  });

  it('passes reads of keys it was not given, and stops once closed', async () => {
    const { inner, items } = await storeOf(4);
    const store = new PrefetchingObjectStore(inner, { budgetBytes: 100, log: silentLogger });
    store.prefetch(items.slice(1));
    await store.get(items[0]!.key);
    store.close();
    await settle();
    assert.ok(await store.get(items[2]!.key));
    assert.deepEqual(inner.gets, [items[1]!.key, items[0]!.key, items[2]!.key]);
  });

  it('sizes its default budget at 1/16 of memory, at most 1 GiB', () => {
    assert.equal(prefetchBudgetBytes(8 * 2 ** 30), 512 * 2 ** 20);
    assert.equal(prefetchBudgetBytes(64 * 2 ** 30), 2 ** 30);
  });
});
