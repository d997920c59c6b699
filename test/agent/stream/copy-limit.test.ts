/**
 * A transaction larger than the store copies in one request (S3's CopyObject: 5 GiB) cannot be
 * placed by copying its staging object; it is uploaded from the spill file into its chunk key.
 * The limit is injected (1 MiB) so a 3 MiB transaction takes that path, against the local S3
 * stand-in and the local directory store, with the real spill file and staging upload.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildStreamer } from '../../../agent/cli/agent.js';
import { ChunkConflictError } from '../../../agent/errors.js';
import { chunkKey, stagingPrefix } from '../../../agent/keys.js';
import { s3ClientFor, startS3Server, type S3Server } from '../../../agent/local/s3.js';
import { silentLogger } from '../../../agent/log.js';
import type { ObjectStore } from '../../../agent/ports/object-store.js';
import { sha256Hex } from '../../../agent/store/bytes.js';
import { FsObjectStore } from '../../../agent/store/fs-object-store.js';
import { MemoryStateStore } from '../../../agent/store/memory-state-store.js';
import { S3ObjectStore } from '../../../agent/store/s3-object-store.js';
import type { Chunk } from '../../../agent/stream/chunker.js';
import { ClusterStateRepo } from '../../../agent/cluster/repo.js';
import { Shipper } from '../../../agent/stream/shipper.js';
import { fileSpill } from '../../../agent/stream/spill.js';
import { openStateStore, s3Client } from '../../../agent/wiring.js';
import { withMariaDb } from '../../harness/mariadb.js';
import { withLocalStack } from '../../harness/stack.js';
import { agentConfig, assertChunksRebuildBinlog, waitCaughtUp } from '../../harness/streaming.js';

const MiB = 1024 * 1024;
const copyLimitBytes = 1 * MiB;
const bucket = 'copy-limit';

/**
 * One 3 MiB transaction written to a spill file event by event, staged as the agent wiring does
 * (which stops staging at the copy limit), or, with `stageWhole`, staged to the end anyway.
 */
function spilledTransaction(objects: ObjectStore, dir: string, stageWhole = false): { chunk: Chunk; body: Buffer } {
  const spill = fileSpill(
    dir,
    async (stream) => {
      const key = `${stagingPrefix('', 'c1')}${sha256Hex(randomBytes(8))}`;
      return { key, ...(await objects.putStreamIfAbsent(key, stream, {})) };
    },
    stageWhole ? {} : { stageLimitBytes: objects.copyLimitBytes },
  )();
  const events: Buffer[] = [];
  for (let i = 0; i < 48; i++) {
    const event = randomBytes(64 * 1024);
    events.push(event);
    spill.append(event);
  }
  const spilled = spill.finish();
  const body = Buffer.concat(events);
  const chunk: Chunk = {
    file: 'mariadb-bin.000001', start: 4, end: 4 + body.length, sizeBytes: body.length, spilled,
    firstGtid: '0-1-7', lastGtid: '0-1-7', firstTs: 1_700_000_000, lastTs: 1_700_000_001, events: 48, endsFile: false, gtidPos: '0-1-7', serverIds: [1],
  };
  return { chunk, body };
}

async function ship(objects: ObjectStore, chunk: Chunk) {
  const state = new ClusterStateRepo(new MemoryStateStore(), 'c1');
  await state.claimFirstEpoch({ file: 'mariadb-bin.000001', pos: 4, gtid: '' }, 'me', Date.now(), 60_000);
  const shipper = new Shipper({
    objects, state, prefix: '', clusterId: 'c1', epoch: 1, holder: 'me', durableSeq: 0,
    maxInFlight: 2, maxHeldBytes: 16 * MiB, log: silentLogger, backoff: { baseMs: 1, maxMs: 5 },
  });
  await shipper.submit(chunk);
  await shipper.drain().finally(() => shipper.stop());
  return state;
}

const keyOf = (chunk: Chunk) => chunkKey('', 'c1', { epoch: 1, seq: 1, file: chunk.file, start: chunk.start, end: chunk.end });

function overCopyLimit(name: string, open: () => Promise<{ objects: ObjectStore; close(): Promise<void> }>): void {
  describe(`a transaction over the copy limit (${name})`, () => {
    let objects: ObjectStore;
    let close: () => Promise<void>;
    let spillDir: string;
    before(async () => {
      spillDir = await mkdtemp(join(tmpdir(), 'squirrel-copy-limit-spill-'));
      ({ objects, close } = await open());
    });
    after(async () => {
      await close?.();
      await rm(spillDir, { recursive: true, force: true });
    });

    it('is uploaded from the spill file into its chunk key, byte for byte with its metadata, and the position moves', async () => {
      const { chunk, body } = spilledTransaction(objects, spillDir);
      assert.ok(chunk.sizeBytes > copyLimitBytes);
      await assert.rejects(chunk.spilled!.staged!, /over the copy limit/, 'staging stops once the transaction passes the copy limit');
      const state = await ship(objects, chunk);
      const durable = (await state.read())?.durable;
      assert.equal(durable?.key, keyOf(chunk));
      assert.equal(durable?.end, chunk.end);
      const stored = await objects.get(keyOf(chunk));
      assert.ok(stored, 'the chunk is stored');
      assert.ok(stored.body.equals(body), 'the stored chunk is the transaction byte for byte');
      assert.equal(stored.metadata.sha256, sha256Hex(body));
      assert.equal(stored.metadata.start, '4');
      assert.equal(stored.metadata.end, String(chunk.end));
      assert.equal(stored.metadata['last-gtid'], '0-1-7');
      for await (const o of objects.list(stagingPrefix('', 'c1'))) assert.fail(`staging object left behind: ${o.key}`);
    });

    it('drops a staging object that grew past the copy limit and uploads from the spill file instead of copying', async () => {
      const { chunk, body } = spilledTransaction(objects, spillDir, true);
      await objects.delete(keyOf(chunk));
      const staged = await chunk.spilled!.staged!;
      assert.equal(staged.sizeBytes, body.length);
      const state = await ship(objects, chunk);
      assert.equal((await state.read())?.durable?.key, keyOf(chunk));
      assert.ok((await objects.get(keyOf(chunk)))?.body.equals(body));
      assert.equal(await objects.head(staged.key), undefined, 'the staging object is deleted');
    });

    it('accepts the chunk already stored with the same bytes', async () => {
      const { chunk, body } = spilledTransaction(objects, spillDir);
      await objects.delete(keyOf(chunk));
      await objects.putIfAbsent(keyOf(chunk), body, sha256Hex(body), { sha256: sha256Hex(body) });
      const state = await ship(objects, chunk);
      assert.equal((await state.read())?.durable?.key, keyOf(chunk));
    });

    it('refuses with a chunk conflict when the key holds other bytes, and overwrites nothing', async () => {
      const { chunk } = spilledTransaction(objects, spillDir);
      await objects.delete(keyOf(chunk));
      const other = Buffer.from('bytes of another history');
      await objects.putIfAbsent(keyOf(chunk), other, sha256Hex(other), { sha256: sha256Hex(other) });
      await assert.rejects(ship(objects, chunk), ChunkConflictError);
      assert.deepEqual((await objects.get(keyOf(chunk)))?.body, other);
    });
  });
}

let s3: S3Server | undefined;
overCopyLimit('local S3 stand-in', async () => {
  s3 = await startS3Server({ bucket });
  const client = s3ClientFor(s3.endpoint);
  return {
    objects: new S3ObjectStore(client, bucket, { copyLimitBytes }),
    close: async () => {
      client.destroy();
      await s3?.stop();
    },
  };
});

overCopyLimit('local directory', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'squirrel-copy-limit-store-'));
  return { objects: new FsObjectStore(dir, { copyLimitBytes }), close: () => rm(dir, { recursive: true, force: true }) };
});

/**
 * The same path end to end: a real server writes a 3 MiB transaction, the agent streams it with
 * a 1 MiB copy limit, and `verify` (SHA-256 and every event's CRC32) and the byte-for-byte
 * comparison with the server's binlog read the chunk back, from S3 and from a directory store.
 */
describe('streaming agent with a transaction over the copy limit', () => {
  it('stores it as one chunk that verifies and rebuilds the server\'s binlog, on S3 and on a directory store', async (t) => {
    const server = await withMariaDb(t);
    const stack = await withLocalStack(t);
    const storeDir = await mkdtemp(join(tmpdir(), 'squirrel-copy-limit-dir-'));
    t.after(() => rm(storeDir, { recursive: true, force: true }));
    await server.query('CREATE DATABASE app');
    await server.query('CREATE TABLE app.t (id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(200))');
    // ~3.3 MiB of row events in one transaction
    await server.query('INSERT INTO app.t (v) SELECT REPEAT(CHAR(65 + seq % 26), 200) FROM app.seq_1_to_15000');
    await server.query("INSERT INTO app.t (v) VALUES ('after')");

    const s3Config = agentConfig(server, stack, 'copy-limit-s3');
    const dirConfig = { ...agentConfig(server, stack, 'copy-limit-dir'), storeDir };
    const runs = [
      { config: s3Config, objects: new S3ObjectStore(s3Client(s3Config), s3Config.bucket, { copyLimitBytes }) },
      { config: dirConfig, objects: new FsObjectStore(storeDir, { copyLimitBytes }) },
    ];
    for (const { config, objects } of runs) {
      const { streamer, close } = buildStreamer(config, silentLogger, 'oldest', { objects });
      const running = streamer.run();
      try {
        await waitCaughtUp(server, new ClusterStateRepo(openStateStore(config), config.clusterId));
      } finally {
        await streamer.stop();
        const reason = await running;
        await close();
        assert.equal(reason.kind, 'stopped', reason.kind === 'failed' ? String(reason.error) : '');
      }
      await assertChunksRebuildBinlog(t, server, config);
      let largest = 0;
      for await (const o of objects.list(`${config.clusterId}/binlog/`)) largest = Math.max(largest, o.sizeBytes);
      assert.ok(largest > 2 * copyLimitBytes, `the transaction should be one chunk over the limit, largest is ${largest}`);
      for await (const o of objects.list(stagingPrefix('', config.clusterId))) assert.fail(`staging object left behind: ${o.key}`);
    }
  });
});
