import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ChunkConflictError, FencedError, StopCutShortError, UnavailableError } from '../../../agent/errors.js';
import { clusterPk, parseChunkKey, stateSk } from '../../../agent/keys.js';
import { silentLogger } from '../../../agent/log.js';
import { MemoryObjectStore } from '../../../agent/store/memory-object-store.js';
import { MemoryStateStore } from '../../../agent/store/memory-state-store.js';
import type { Chunk } from '../../../agent/stream/chunker.js';
import { ClusterStateRepo, type DurablePosition } from '../../../agent/cluster/repo.js';
import { Shipper, type ShipperOptions } from '../../../agent/stream/shipper.js';
import { chunkBytes, chunkEncoder } from '../../../agent/store/chunk-body.js';
import { sha256Hex } from '../../../agent/store/bytes.js';
import type { StateStore } from '../../../agent/ports/state-store.js';
import { LostResponseStateStore } from '../../harness/lost-response-store.js';

function chunk(start: number, size = 10, file = 'f.000001'): Chunk {
  return { file, start, end: start + size, body: Buffer.alloc(size, start % 251), sizeBytes: size, firstGtid: `0-1-${start}`, lastGtid: `0-1-${start}`, firstTs: 1, lastTs: 1, events: 1, endsFile: false, gtidPos: `0-1-${start},7-1-${start}`, serverIds: [1] };
}

/** An object store whose puts are delayed or fail on demand. */
class ScriptedStore extends MemoryObjectStore {
  failuresLeft = 0;
  delays = new Map<number, number>();
  puts = 0;
  override async putIfAbsent(key: string, body: Buffer, sha256: string, metadata: Record<string, string>): Promise<void> {
    this.puts++;
    const delay = this.delays.get(parseChunkKey(key)?.start ?? -1) ?? 0;
    if (delay) await new Promise((r) => setTimeout(r, delay));
    if (this.failuresLeft > 0) {
      this.failuresLeft--;
      throw new UnavailableError('s3', 'injected outage');
    }
    return super.putIfAbsent(key, body, sha256, metadata);
  }
}

async function setup(objects = new ScriptedStore(), stateStore: StateStore = new MemoryStateStore(), encoding?: ShipperOptions['encoding']) {
  const state = new ClusterStateRepo(stateStore, 'c1');
  await state.claimFirstEpoch({ file: 'f.000001', pos: 4, gtid: '' }, 'me', Date.now(), 60_000);
  /** Each chunk as it became durable, with the position that covered it. */
  const durable: (DurablePosition & { chunkEnd: number })[] = [];
  const shipper = new Shipper({
    objects, state, prefix: '', clusterId: 'c1', epoch: 1, holder: 'me', durableSeq: 0,
    maxInFlight: 4, maxHeldBytes: 1000, log: silentLogger, backoff: { baseMs: 1, maxMs: 5 },
    onDurable: (p, c) => durable.push({ ...p, chunkEnd: c.end }),
    ...(encoding ? { encoding } : {}),
  });
  return { objects, stateStore, state, shipper, durable };
}

describe('shipper', () => {
  it('advances the position strictly in order while uploads finish out of order', async () => {
    const { objects, state, shipper, durable } = await setup();
    objects.delays.set(4, 30); // the first chunk is the slowest
    for (const start of [4, 14, 24, 34]) await shipper.submit(chunk(start));
    await shipper.drain();
    // every chunk is reported once, in order; the later ones, stored while the first was still
    // uploading, become durable in the same write as the first
    assert.deepEqual(durable.map((p) => p.chunkEnd), [14, 24, 34, 44]);
    assert.deepEqual(durable.map((p) => p.seq), [4, 4, 4, 4]);
    const s = await state.read();
    assert.equal(s?.durable?.key, 'c1/binlog/000001/000000000004-f.000001-34-44');
    const stored = await objects.get(s!.durable!.key);
    assert.equal(stored?.metadata.sha256, sha256Hex(stored!.body));
    assert.equal(stored?.metadata['first-gtid'], '0-1-34');
    assert.equal(stored?.metadata.encoding, 'none');
    // the durable position is the newest chunk's whole GTID position, every domain
    assert.equal(s?.durable?.gtid, '0-1-34,7-1-34');
    assert.equal(stored?.metadata['gtid-pos'], '0-1-34,7-1-34');
    assert.equal(stored?.metadata['server-ids'], '1');
  });

  it('never names a chunk durable before it is stored', async () => {
    const { objects, state, shipper } = await setup();
    objects.delays.set(4, 20);
    await shipper.submit(chunk(4));
    assert.equal((await state.read())?.durableSeq, 0);
    await shipper.drain();
    assert.equal((await state.read())?.durableSeq, 1);
    assert.ok(await objects.head((await state.read())!.durable!.key));
  });

  it('retries an unavailable store and loses nothing', async () => {
    const { objects, shipper, durable } = await setup();
    objects.failuresLeft = 5;
    for (const start of [4, 14]) await shipper.submit(chunk(start));
    await shipper.drain();
    assert.deepEqual(durable.map((p) => p.chunkEnd), [14, 24]);
    assert.equal(durable[1]!.seq, 2);
    assert.equal(objects.puts, 7);
  });

  for (const afterLoss of ['repeat', 'unavailable'] as const) {
    it(`goes on when a position write landed but its response was lost (${afterLoss === 'repeat' ? 'the repeat fails its condition' : 'the SDK gives up'})`, async () => {
      const lossy = new LostResponseStateStore(new MemoryStateStore());
      lossy.loses = (op, _sk, fields) => op === 'update' && 'durableBy' in fields;
      lossy.afterLoss = afterLoss;
      const { state, shipper, durable } = await setup(new ScriptedStore(), lossy);
      for (const start of [4, 14, 24]) {
        await shipper.submit(chunk(start));
        await shipper.drain();
      }
      assert.equal(lossy.lost, 3);
      assert.deepEqual(durable.map((p) => [p.seq, p.end]), [[1, 14], [2, 24], [3, 34]]);
      assert.equal((await state.read())?.durableSeq, 3);
    });
  }

  it('accepts a chunk that is already stored with the same bytes', async () => {
    const { objects, shipper, durable } = await setup();
    const c = chunk(4);
    await objects.putIfAbsent('c1/binlog/000001/000000000001-f.000001-4-14', c.body!, sha256Hex(c.body!), { sha256: sha256Hex(c.body!) });
    await shipper.submit(c);
    await shipper.drain();
    assert.equal(durable.length, 1);
  });

  it('stores compressed chunks with encoding=zstd, and accepts one an earlier run stored uncompressed', async () => {
    const zstd = { name: 'zstd' as const, encode: await chunkEncoder('zstd') };
    const { objects, shipper, durable } = await setup(new ScriptedStore(), new MemoryStateStore(), zstd);
    const first = chunk(4);
    await objects.putIfAbsent('c1/binlog/000001/000000000001-f.000001-4-14', first.body!, sha256Hex(first.body!), { sha256: sha256Hex(first.body!), encoding: 'none' });
    await shipper.submit(first);
    await shipper.submit(chunk(14, 4000));
    await shipper.drain();
    assert.equal(durable.length, 2);
    const second = (await objects.get('c1/binlog/000001/000000000002-f.000001-14-4014'))!;
    assert.equal(second.metadata.encoding, 'zstd');
    assert.equal(second.metadata.sha256, sha256Hex(second.body));
    assert.ok(second.body.length < 100, `4000 equal bytes stored as ${second.body.length}`);
    assert.deepEqual(chunkBytes(second, 4000), chunk(14, 4000).body);
  });

  it('stops with an error naming the key when a stored chunk differs', async () => {
    const { objects, state, shipper } = await setup();
    const other = Buffer.alloc(10, 7);
    await objects.putIfAbsent('c1/binlog/000001/000000000001-f.000001-4-14', other, sha256Hex(other), { sha256: sha256Hex(other) });
    await shipper.submit(chunk(4));
    await assert.rejects(shipper.drain(), (e: unknown) => e instanceof ChunkConflictError && e.key.endsWith('000000000001-f.000001-4-14'));
    await assert.rejects(shipper.submit(chunk(14)), ChunkConflictError);
    assert.equal((await state.read())?.durableSeq, 0);
  });

  it('stops advancing once fenced', async () => {
    const { stateStore, state, shipper } = await setup();
    await shipper.submit(chunk(4));
    await shipper.drain();
    await stateStore.update(clusterPk('c1'), stateSk, { epoch: 2, durableSeq: 0 }, { field: 'epoch', eq: 1 });
    await shipper.submit(chunk(14));
    await assert.rejects(shipper.drain(), FencedError);
    assert.equal((await state.read())?.durable?.seq, 1);
  });

  it('holds at most the configured bytes: submit waits for uploads to finish', async () => {
    const { objects, shipper } = await setup();
    objects.delays.set(4, 40);
    await shipper.submit(chunk(4, 600));
    const t0 = Date.now();
    await shipper.submit(chunk(604, 600)); // 1200 > 1000: waits until the first is durable
    assert.ok(Date.now() - t0 >= 30, 'second submit should have waited');
    assert.ok(shipper.held <= 1000);
    await shipper.drain();
  });

  it('moves the position one chunk at a time when each is stored before the next arrives', async () => {
    const { shipper, durable } = await setup();
    for (const start of [4, 14, 24]) {
      await shipper.submit(chunk(start));
      await shipper.drain();
    }
    assert.deepEqual(durable.map((p) => [p.seq, p.end]), [[1, 14], [2, 24], [3, 34]]);
  });

  it('copies a transaction staged while it streamed into its chunk key, and drops the staging object', async () => {
    const { objects, shipper, durable } = await setup();
    const body = Buffer.alloc(40, 9);
    await objects.putIfAbsent('c1/staging/abc', body, sha256Hex(body), {});
    const big: Chunk = {
      ...chunk(4, 40),
      body: undefined,
      spilled: { path: '/nonexistent', sizeBytes: 40, sha256: sha256Hex(body), open: () => { throw new Error('must not read the spill file'); }, remove: () => undefined, staged: Promise.resolve({ key: 'c1/staging/abc', sizeBytes: 40, sha256: sha256Hex(body) }) },
    };
    await shipper.submit(big);
    await shipper.drain();
    assert.equal(durable.length, 1);
    const stored = await objects.get(durable[0]!.key);
    assert.deepEqual(stored?.body, body);
    assert.equal(stored?.metadata.sha256, sha256Hex(body));
    assert.equal(stored?.metadata.start, '4');
    assert.equal(await objects.head('c1/staging/abc'), undefined);
  });
});

describe('shipper, when a stop gives up', () => {
  it('stops retrying, releases a waiting submit, and names every chunk it did not store', async () => {
    const objects = new ScriptedStore();
    objects.failuresLeft = Number.POSITIVE_INFINITY; // S3 never comes back
    const state = new ClusterStateRepo(new MemoryStateStore(), 'c1');
    await state.claimFirstEpoch({ file: 'f.000001', pos: 4, gtid: '' }, 'me', Date.now(), 60_000);
    const giveUp = new AbortController();
    const shipper = new Shipper({
      objects, state, prefix: '', clusterId: 'c1', epoch: 1, holder: 'me', durableSeq: 0,
      maxInFlight: 4, maxHeldBytes: 25, log: silentLogger, backoff: { baseMs: 1, maxMs: 5 }, giveUp: giveUp.signal,
    });
    await shipper.submit(chunk(4));
    await shipper.submit(chunk(14));
    const waiting = shipper.submit(chunk(24)); // 30 bytes would be held: waits for room
    const draining = shipper.drain();
    await new Promise((r) => setTimeout(r, 30));
    giveUp.abort(new StopCutShortError('the test gave up'));
    await assert.rejects(waiting, StopCutShortError);
    await assert.rejects(draining, /stop cut short: the test gave up/);
    assert.deepEqual(shipper.unstored().map((c) => [c.seq, c.file, c.start, c.end, c.uploaded]), [[1, 'f.000001', 4, 14, false], [2, 'f.000001', 14, 24, false]]);
    const putsAtGiveUp = objects.puts;
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(objects.puts, putsAtGiveUp, 'no retry after giving up');
    assert.equal((await state.read())?.durableSeq, 0);
  });
});
