import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { sha256Hex } from '../../../agent/store/bytes.js';
import { FsObjectStore, nodeFsOps, type FsOps } from '../../../agent/store/fs-object-store.js';

/**
 * A power loss cannot be observed in a test; what can be is that every write reaches fsync(2) in
 * the order that makes it survive one. GIVEN a store whose fsync is recorded (and slow, so a write
 * that does not wait for it resolves first), WHEN a write resolves, THEN it has fsynced the body
 * before it was linked into place, and the directory holding the new name after.
 */
describe('local directory store durability', () => {
  let root: string;
  /** What happened, in order: `fsync <path> <linked?>` when an fsync finished, `resolved` when the write returned. */
  let log: string[];
  let store: FsObjectStore;
  let target = '';
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'squirrel-fs-durable-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  function open(): FsObjectStore {
    log = [];
    const fsOps: FsOps = {
      async fsync(path) {
        await nodeFsOps.fsync(path);
        await new Promise((r) => setTimeout(r, 5));
        const rel = relative(root, path);
        const name = rel.startsWith('.tmp') ? (rel.endsWith('.meta') ? '<tmp metadata>' : '<tmp>') : rel || '<root>';
        log.push(`fsync ${name}${target && existsSync(join(root, target)) ? ' linked' : ''}`);
      },
    };
    return new FsObjectStore(root, { fsOps });
  }

  /** The body's fsyncs (temp file, then metadata temp file) come before the link; the directories' after. */
  function assertDurableOrder(key: string): void {
    const dir = key.split('/').slice(0, -1).join('/');
    const metaDir = `.meta/${dir}`;
    const body = log.indexOf('fsync <tmp>');
    const meta = log.indexOf('fsync <tmp metadata>');
    const metaLinked = log.indexOf(`fsync ${metaDir}`);
    const bodyLinked = log.indexOf(`fsync ${dir} linked`);
    assert.ok(body >= 0, `the body file was never fsynced: ${log.join(', ')}`);
    assert.ok(meta >= 0, `the metadata file was never fsynced: ${log.join(', ')}`);
    assert.ok(metaLinked > Math.max(body, meta), `the metadata directory must be fsynced after the files: ${log.join(', ')}`);
    assert.ok(bodyLinked > metaLinked, `the object's directory must be fsynced after the link: ${log.join(', ')}`);
    assert.equal(log[log.length - 1], 'resolved', `the write resolved before its fsyncs finished: ${log.join(', ')}`);
    assert.ok(!log.slice(0, body).some((l) => l.endsWith('linked')), 'the body was linked before it was fsynced');
  }

  it('resolves putIfAbsent only after fsync of the file and then of its directory', async () => {
    store = open();
    target = 'c1/binlog/000001/a';
    const body = Buffer.from('chunk bytes');
    await store.putIfAbsent(target, body, sha256Hex(body), { sha256: sha256Hex(body) });
    log.push('resolved');
    assertDurableOrder(target);
  });

  it('fsyncs every directory it creates, and the parent of the first', async () => {
    store = open();
    target = 'new/deep/dirs/k';
    const body = Buffer.from('x');
    await store.putIfAbsent(target, body, sha256Hex(body), {});
    log.push('resolved');
    for (const d of ['<root>', 'new', 'new/deep', '.meta', '.meta/new', '.meta/new/deep']) {
      assert.ok(log.includes(`fsync ${d}`), `${d} gained an entry and was not fsynced: ${log.join(', ')}`);
    }
    assertDurableOrder(target);
  });

  it('resolves putStreamIfAbsent only after fsync of the file and then of its directory', async () => {
    store = open();
    target = 'c1/base/b1/part';
    await store.putStreamIfAbsent(target, Readable.from([Buffer.alloc(100_000, 1), Buffer.alloc(5, 2)]), {});
    log.push('resolved');
    assertDurableOrder(target);
  });

  it('resolves copyIfAbsent only after fsync of the copy and then of its directory', async () => {
    store = open();
    target = '';
    const body = Buffer.from('staged');
    await store.putIfAbsent('c1/staging/s', body, sha256Hex(body), {});
    target = 'c1/binlog/000001/copied';
    log = [];
    await store.copyIfAbsent('c1/staging/s', target, { sha256: sha256Hex(body) });
    log.push('resolved');
    assertDurableOrder(target);
  });
});
