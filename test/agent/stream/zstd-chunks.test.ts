import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { compareWithServer } from '../../../agent/local/binlog-compare.js';
import { BINLOG_MAGIC } from '../../../agent/binlog/event-parser.js';
import { parseChunkKey } from '../../../agent/keys.js';
import { objectStoreFor } from '../../../agent/cli/agent.js';
import { withMariaDb } from '../../harness/mariadb.js';
import { withLocalStack } from '../../harness/stack.js';
import { localObjectPath } from '../../harness/damage.js';
import { agentConfig, assertChunksRebuildBinlog, waitCaughtUp } from '../../harness/streaming.js';
import { backup, restoreForTest, startAgent } from '../../harness/pitr.js';
import { checksums, runWorkload, SCHEMA } from '../serve/source.js';

/**
 * `chunkEncoding: zstd`: every reader of chunks works on compressed ones (DESIGN.md, storage
 * contract): verify (and the byte-for-byte rebuild of the server's binlog), restore by the fake
 * primary and by pipe, and the README's recipe with the zstd binary and mariadb-binlog alone.
 */
describe('compressed chunks (chunkEncoding: zstd)', () => {
  it('are stored compressed, verify, rebuild the binlog, restore by both paths, and follow the README recipe', async (t) => {
    const server = await withMariaDb(t, { serverId: 1 });
    const stack = await withLocalStack(t);
    await server.query('RESET MASTER');
    // the first run stores chunks as they are; the restart compresses: a cluster holds both
    const plain = agentConfig(server, stack, 'zstd-chunks');
    const config = { ...plain, chunkEncoding: 'zstd' as const };
    let agent = startAgent(t, plain);
    for (const sql of SCHEMA) await server.query(sql);
    for (let i = 0; i < 20; i++) await server.query(`INSERT INTO app.events (kind, payload) VALUES ('plain', REPEAT('p', ${i * 40}))`);
    await waitCaughtUp(server, agent.repo);
    await agent.stop();
    agent = startAgent(t, config);
    await backup(config, agent.repo);
    await runWorkload(server, 150);
    await waitCaughtUp(server, agent.repo);
    await agent.stop();

    // stored: the encoding in each object's metadata, compressed bodies smaller than their bytes
    const objects = objectStoreFor(config);
    let zstd = 0;
    let none = 0;
    let raw = 0;
    let stored = 0;
    const keys: string[] = [];
    for await (const o of objects.list(`${config.clusterId}/binlog/`)) {
      const info = await objects.head(o.key);
      const ref = parseChunkKey(o.key)!;
      keys.push(o.key);
      if (info?.metadata.encoding === 'zstd') {
        zstd++;
        raw += ref.end - ref.start;
        stored += o.sizeBytes;
      } else {
        assert.equal(info?.metadata.encoding, 'none');
        none++;
      }
    }
    t.diagnostic(`${zstd} zstd chunks (${raw} bytes stored as ${stored}: ${(raw / stored).toFixed(2)}x), ${none} uncompressed`);
    assert.ok(zstd > 10 && none > 0, `zstd ${zstd}, none ${none}`);
    assert.ok(stored < raw, 'compressed chunks are not smaller');

    // verify, and the chunks rebuild the server's binlog byte for byte
    await assertChunksRebuildBinlog(t, server, config);

    // restore: by the fake primary (a replica applying from compressed chunks) and by pipe
    const expected = await checksums(server);
    const viaReplica = await restoreForTest(t, config, { kind: 'latest' }, { via: 'replica' });
    assert.deepEqual(await checksums(viaReplica.server!), expected);
    const viaPipe = await restoreForTest(t, config, { kind: 'latest' }, { via: 'pipe' });
    assert.deepEqual(await checksums(viaPipe.server!), expected);

    // the README's recipe: the objects as files, `zstd -dc` or `cat` by encoding, the magic first
    const dir = mkdtempSync(join(tmpdir(), 'sq-recipe-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const files = new Map<string, Buffer[]>();
    for (const key of keys.sort()) {
      const ref = parseChunkKey(key)!;
      const path = localObjectPath(stack, key);
      const encoding = (await objects.head(key))?.metadata.encoding;
      const bytes = encoding === 'zstd' ? execFileSync('zstd', ['-dc', path], { maxBuffer: 256 * 1024 * 1024 }) : readFileSync(path);
      if (!files.has(ref.file)) files.set(ref.file, ref.start === 4 ? [BINLOG_MAGIC] : []);
      files.get(ref.file)!.push(bytes);
    }
    const rebuilt = new Map([...files].map(([f, bufs]) => [f, { offset: 0, bytes: Buffer.concat(bufs) }]));
    for (const c of await compareWithServer(rebuilt, await server.binlogFiles())) assert.equal(c.firstDifference, -1, `${c.file} differs at byte ${c.firstDifference}`);
    const last = [...rebuilt.keys()].sort().at(-1)!;
    const path = join(dir, last);
    writeFileSync(path, rebuilt.get(last)!.bytes);
    const text = execFileSync('mariadb-binlog', [path], { maxBuffer: 256 * 1024 * 1024 }).toString();
    assert.match(text, /INSERT INTO|Write_rows|GTID \d+-\d+-\d+/);
  });
});
