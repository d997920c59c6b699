import assert from 'node:assert/strict';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { objectStoreFor } from '../../../agent/cli/agent.js';
import { RestoreRefusedError } from '../../../agent/errors.js';
import { parseChunkKey, chunkKey } from '../../../agent/keys.js';
import { MariaDbServer } from '../../../agent/server/mariadb.js';
import { restore, serverDirFor } from '../../../agent/restore/restore.js';
import { silentLogger } from '../../../agent/log.js';
import { sha256Hex } from '../../../agent/store/bytes.js';
import { openStateStore } from '../../../agent/wiring.js';
import { localObjectPath } from '../../harness/damage.js';
import { withMariaDb } from '../../harness/mariadb.js';
import { backup, numbersIn, range, restoreDir, SequenceWriter, startAgent, type PitrConfig } from '../../harness/pitr.js';
import { withLocalStack } from '../../harness/stack.js';
import { agentConfig, waitCaughtUp } from '../../harness/streaming.js';
import type { TestContext } from 'node:test';
import type { LocalStack } from '../../../agent/local/stack.js';

const metadataPath = (objectPath: string) => objectPath.replace(/\._S3rver_object$/, '._S3rver_metadata.json');

/** Runs `damage`, then `check`, then puts every touched file back as it was. */
async function withDamage(paths: string[], damage: () => void | Promise<void>, check: () => Promise<void>): Promise<void> {
  const saved = paths.map((p) => ({ p, body: readFileSync(p) }));
  try {
    await damage();
    await check();
  } finally {
    for (const { p, body } of saved) writeFileSync(p, body);
  }
}

function flipByte(path: string, at: number): void {
  const body = readFileSync(path);
  body[at] = body[at]! ^ 0xff;
  writeFileSync(path, body);
}

async function attempt(t: TestContext, config: PitrConfig) {
  const datadir = restoreDir(t);
  try {
    await restore(
      { objects: objectStoreFor(config), stateStore: openStateStore(config), prefix: '', clusterId: config.clusterId, mysqlUrl: config.mysqlUrl, log: silentLogger },
      { kind: 'latest' },
      datadir,
      { progress: false },
    );
  } catch (err) {
    return { err, datadir };
  }
  assert.fail('the restore did not refuse');
}

/** Starts a server on what a refused restore left in `datadir`. */
async function leftBehind(t: TestContext, datadir: string): Promise<MariaDbServer> {
  const s = await MariaDbServer.start({ dir: serverDirFor(datadir), keep: true });
  t.after(() => s.stop());
  return s;
}

async function chunkKeys(config: PitrConfig): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of objectStoreFor(config).list(`${config.clusterId}/binlog/`)) keys.push(o.key);
  return keys;
}

describe('restore is complete or refuses', () => {
  it('refuses, naming the object, when S3 holds less or other than the durable position promises', async (t) => {
    const server = await withMariaDb(t);
    const stack: LocalStack = await withLocalStack(t);
    const config = agentConfig(server, stack, 'refusals');
    const writer = await SequenceWriter.open(t, server);
    const agent = startAgent(t, config);
    await writer.write(30);
    await waitCaughtUp(server, agent.repo);
    const manifest = await backup(config, agent.repo);
    for (let i = 0; i < 6; i++) {
      await writer.write(40);
      await new Promise((r) => setTimeout(r, 80)); // longer than the chunk age: a chunk per batch
    }
    await waitCaughtUp(server, agent.repo);
    await agent.stop();
    const durable = (await agent.repo.read())!.durable!;
    const keys = await chunkKeys(config);
    const after = keys.filter((k) => {
      const c = parseChunkKey(k)!;
      return c.file > manifest.binlog.file || (c.file === manifest.binlog.file && c.start >= manifest.binlog.pos);
    });
    assert.ok(after.length >= 4, `expected several chunks after the backup, got ${after.length}`);
    const middle = after[Math.floor(after.length / 2)]!;
    const path = (k: string) => localObjectPath(stack, k);

    await t.test('a missing chunk', async (st) => {
      await withDamage([path(middle)], () => renameSync(path(middle), `${path(middle)}.gone`), async () => {
        try {
          const { err } = await attempt(st, config);
          assert.ok(err instanceof RestoreRefusedError, String(err));
          assert.match(err.message, new RegExp(`seq ${parseChunkKey(middle)!.seq}`));
        } finally {
          renameSync(`${path(middle)}.gone`, path(middle));
        }
      });
    });

    await t.test('a gap: the chunk in its place covers another range', async (st) => {
      const c = parseChunkKey(middle)!;
      const fake = chunkKey('', config.clusterId, { ...c, start: c.start + 1 });
      const objects = objectStoreFor(config);
      const body = (await objects.get(middle))!;
      await objects.putIfAbsent(fake, body.body.subarray(1), sha256Hex(body.body.subarray(1)), {});
      await withDamage([], () => renameSync(path(middle), `${path(middle)}.gone`), async () => {
        try {
          const { err } = await attempt(st, config);
          assert.ok(err instanceof RestoreRefusedError, String(err));
          assert.match(err.message, /gap or overlap|is missing/);
        } finally {
          renameSync(`${path(middle)}.gone`, path(middle));
          await objects.delete(fake);
        }
      });
    });

    await t.test('S3 holding less than DynamoDB promises (the durable chunk is gone)', async (st) => {
      await withDamage([path(durable.key)], () => renameSync(path(durable.key), `${path(durable.key)}.gone`), async () => {
        try {
          const { err } = await attempt(st, config);
          assert.ok(err instanceof RestoreRefusedError, String(err));
          assert.ok(err.message.includes(durable.key), err.message);
        } finally {
          renameSync(`${path(durable.key)}.gone`, path(durable.key));
        }
      });
    });

    await t.test('a SHA-256 mismatch stops replay after the last good transaction', async (st) => {
      await withDamage([path(middle)], () => flipByte(path(middle), 30), async () => {
        const { err, datadir } = await attempt(st, config);
        assert.ok(err instanceof RestoreRefusedError, String(err));
        assert.ok(err.message.includes(middle) && /sha-256 mismatch/.test(err.message), err.message);
        const previous = keys[keys.indexOf(middle) - 1]!;
        const lastGood = (await objectStoreFor(config).head(previous))!.metadata['last-gtid']!;
        const s = await leftBehind(st, datadir);
        assert.deepEqual(await numbersIn(s), range(1, writer.numberOf.get(lastGood)!));
      });
    });

    await t.test('a CRC32 mismatch in an event (with a matching SHA-256)', async (st) => {
      const meta = metadataPath(path(middle));
      await withDamage([path(middle), meta], () => {
        flipByte(path(middle), 60);
        const json = JSON.parse(readFileSync(meta, 'utf8')) as Record<string, string>;
        json['x-amz-meta-sha256'] = sha256Hex(readFileSync(path(middle)));
        writeFileSync(meta, JSON.stringify(json));
      }, async () => {
        const { err, datadir } = await attempt(st, config);
        assert.ok(err instanceof RestoreRefusedError, String(err));
        assert.ok(err.message.includes(middle) && /crc32 mismatch/.test(err.message), err.message);
        const previous = keys[keys.indexOf(middle) - 1]!;
        const lastGood = (await objectStoreFor(config).head(previous))!.metadata['last-gtid']!;
        const s = await leftBehind(st, datadir);
        assert.deepEqual(await numbersIn(s), range(1, writer.numberOf.get(lastGood)!));
      });
    });

    await t.test('a damaged base backup', async (st) => {
      const p = path(manifest.object.key);
      await withDamage([p], () => flipByte(p, Math.floor(manifest.object.sizeBytes / 2)), async () => {
        const { err } = await attempt(st, config);
        assert.ok(err instanceof RestoreRefusedError, String(err));
        assert.ok(err.message.includes(manifest.object.key), err.message);
      });
    });
  });
});
