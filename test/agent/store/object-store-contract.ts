import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, it, before, after } from 'node:test';
import { ObjectExistsError, ChecksumMismatchError, CopyTooLargeError } from '../../../agent/errors.js';
import type { ObjectStore } from '../../../agent/ports/object-store.js';
import { sha256Hex } from '../../../agent/store/bytes.js';

export interface ObjectStoreFixture {
  store: ObjectStore;
  close(): Promise<void>;
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** How to open the adapter under test; `copyLimitBytes` injects a smaller copy limit than its default. */
export type OpenObjectStore = (opts?: { copyLimitBytes?: number }) => Promise<ObjectStoreFixture>;

/** The one contract every ObjectStore adapter must meet; run against each adapter. */
export function objectStoreContract(name: string, open: OpenObjectStore, opts: { largeBytes?: number } = {}): void {
  describe(`ObjectStore contract: ${name}`, () => {
    let fx: ObjectStoreFixture;
    let prefix: string;
    before(async () => {
      fx = await open();
    });
    after(async () => {
      await fx?.close();
    });
    const fresh = () => {
      prefix = `contract/${randomUUID()}/`;
      return prefix;
    };

    it('stores a body once and reads it back with its metadata', async () => {
      const p = fresh();
      const body = Buffer.from('hello binlog');
      await fx.store.putIfAbsent(`${p}a`, body, sha256Hex(body), { sha256: sha256Hex(body), file: 'mariadb-bin.000001' });
      const got = await fx.store.get(`${p}a`);
      assert.ok(got);
      assert.deepEqual(got.body, body);
      assert.equal(got.metadata.sha256, sha256Hex(body));
      assert.equal(got.metadata.file, 'mariadb-bin.000001');
      const head = await fx.store.head(`${p}a`);
      assert.equal(head?.sizeBytes, body.length);
      assert.equal(head?.metadata.file, 'mariadb-bin.000001');
      assert.deepEqual(await collect((await fx.store.getStream(`${p}a`))!), body);
    });

    it('refuses to overwrite an existing key and keeps the first body', async () => {
      const p = fresh();
      const first = Buffer.from('first');
      const second = Buffer.from('second');
      await fx.store.putIfAbsent(`${p}k`, first, sha256Hex(first), {});
      await assert.rejects(fx.store.putIfAbsent(`${p}k`, second, sha256Hex(second), {}), ObjectExistsError);
      await assert.rejects(fx.store.putStreamIfAbsent(`${p}k`, Readable.from([second]), {}), ObjectExistsError);
      assert.deepEqual((await fx.store.get(`${p}k`))?.body, first);
    });

    it('refuses a body that does not match its sha-256 and stores nothing', async () => {
      const p = fresh();
      const body = Buffer.from('payload');
      await assert.rejects(fx.store.putIfAbsent(`${p}bad`, body, sha256Hex(Buffer.from('other')), {}), ChecksumMismatchError);
      assert.equal(await fx.store.head(`${p}bad`), undefined);
    });

    it('answers undefined for a missing key and deletes idempotently', async () => {
      const p = fresh();
      assert.equal(await fx.store.get(`${p}none`), undefined);
      assert.equal(await fx.store.head(`${p}none`), undefined);
      assert.equal(await fx.store.getStream(`${p}none`), undefined);
      await fx.store.delete(`${p}none`);
      const body = Buffer.from('x');
      await fx.store.putIfAbsent(`${p}d`, body, sha256Hex(body), {});
      await fx.store.delete(`${p}d`);
      assert.equal(await fx.store.head(`${p}d`), undefined);
      await fx.store.putIfAbsent(`${p}d`, body, sha256Hex(body), {});
    });

    it('lists keys under a prefix in key order, after a start key', async () => {
      const p = fresh();
      const names = ['000002-b', '000001-a', '000010-c', 'sub/000003'];
      for (const n of names) await fx.store.putIfAbsent(`${p}${n}`, Buffer.from(n), sha256Hex(Buffer.from(n)), {});
      const listed: string[] = [];
      for await (const o of fx.store.list(p)) listed.push(o.key.slice(p.length));
      assert.deepEqual(listed, ['000001-a', '000002-b', '000010-c', 'sub/000003']);
      const after: string[] = [];
      for await (const o of fx.store.list(p, `${p}000002-b`)) after.push(o.key.slice(p.length));
      assert.deepEqual(after, ['000010-c', 'sub/000003']);
      const none: string[] = [];
      for await (const o of fx.store.list(`${p}zzz`)) none.push(o.key);
      assert.deepEqual(none, []);
    });

    for (const partsInFlight of [1, 3]) {
      it(`streams a large body in parts (${partsInFlight} in flight) and returns its size and sha-256`, async () => {
        const p = fresh();
        const size = opts.largeBytes ?? 20 * 1024 * 1024 + 123;
        // a distinct block each time, so parts that land in the wrong order change the digest
        const blocks = Array.from({ length: Math.ceil(size / (1024 * 1024)) }, () => randomBytes(1024 * 1024));
        const whole = Buffer.concat(blocks).subarray(0, size);
        async function* gen() {
          for (let at = 0; at < size; at += 1024 * 1024) yield whole.subarray(at, Math.min(size, at + 1024 * 1024));
        }
        const res = await fx.store.putStreamIfAbsent(`${p}big`, Readable.from(gen()), { kind: 'test' }, { partsInFlight });
        assert.equal(res.sizeBytes, size);
        assert.equal(res.sha256, sha256Hex(whole));
        const head = await fx.store.head(`${p}big`);
        assert.equal(head?.sizeBytes, size);
        assert.equal(head?.metadata.kind, 'test');
        const got = await collect((await fx.store.getStream(`${p}big`))!);
        assert.equal(sha256Hex(got), res.sha256);
      });
    }

    it('copies inside the store with new metadata, once', async () => {
      const p = fresh();
      const body = Buffer.from('staged chunk bytes');
      await fx.store.putIfAbsent(`${p}staging/x`, body, sha256Hex(body), { stage: 'yes' });
      await fx.store.copyIfAbsent(`${p}staging/x`, `${p}final`, { sha256: sha256Hex(body), file: 'f' });
      const got = await fx.store.get(`${p}final`);
      assert.deepEqual(got?.body, body);
      assert.equal(got?.metadata.sha256, sha256Hex(body));
      assert.equal(got?.metadata.stage, undefined);
      const other = Buffer.from('other');
      await fx.store.putIfAbsent(`${p}staging/y`, other, sha256Hex(other), {});
      await assert.rejects(fx.store.copyIfAbsent(`${p}staging/y`, `${p}final`, {}), ObjectExistsError);
      assert.deepEqual((await fx.store.get(`${p}final`))?.body, body);
    });

    it('refuses to copy a source over its copy limit and writes nothing', async () => {
      const p = fresh();
      const limited = await open({ copyLimitBytes: 1024 });
      try {
        assert.equal(limited.store.copyLimitBytes, 1024);
        const atLimit = Buffer.alloc(1024, 1);
        await limited.store.putIfAbsent(`${p}staging/at`, atLimit, sha256Hex(atLimit), {});
        await limited.store.copyIfAbsent(`${p}staging/at`, `${p}at`, { sha256: sha256Hex(atLimit) });
        assert.deepEqual((await limited.store.get(`${p}at`))?.body, atLimit);
        const over = Buffer.alloc(1025, 2);
        await limited.store.putIfAbsent(`${p}staging/over`, over, sha256Hex(over), {});
        const err = await limited.store.copyIfAbsent(`${p}staging/over`, `${p}over`, {}).then(() => undefined, (e: unknown) => e);
        assert.ok(err instanceof CopyTooLargeError, `expected CopyTooLargeError, got ${String(err)}`);
        assert.equal(err.retryable, false);
        assert.equal(await limited.store.head(`${p}over`), undefined);
      } finally {
        await limited.close();
      }
    });

    it('streams a small and an empty body', async () => {
      const p = fresh();
      const small = await fx.store.putStreamIfAbsent(`${p}small`, Readable.from([Buffer.from('abc')]), {});
      assert.equal(small.sizeBytes, 3);
      assert.deepEqual((await fx.store.get(`${p}small`))?.body, Buffer.from('abc'));
      const empty = await fx.store.putStreamIfAbsent(`${p}empty`, Readable.from([]), {});
      assert.equal(empty.sizeBytes, 0);
      assert.equal((await fx.store.head(`${p}empty`))?.sizeBytes, 0);
    });
  });
}
