import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildStreamer, objectStoreFor } from '../../../agent/cli/agent.js';
import { silentLogger } from '../../../agent/log.js';
import { sleep } from '../../../agent/retry.js';
import { ClusterStateRepo } from '../../../agent/cluster/repo.js';
import { openStateStore } from '../../../agent/wiring.js';
import { withMariaDb } from '../../harness/mariadb.js';
import { withLocalStack } from '../../harness/stack.js';
import { agentConfig, assertChunksRebuildBinlog, waitCaughtUp } from '../../harness/streaming.js';

describe('streaming agent', () => {
  it('streams the binlog to the object store, and the chunks rebuild the server\'s files byte for byte', async (t) => {
    const server = await withMariaDb(t);
    const stack = await withLocalStack(t);
    const config = agentConfig(server, stack, 'stream-basic');
    await server.query('CREATE DATABASE app');
    await server.query('CREATE TABLE app.t (id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(200))');
    await server.query("INSERT INTO app.t (v) VALUES ('before the agent started')");

    const { streamer, close } = buildStreamer(config, silentLogger, 'oldest');
    const running = streamer.run();
    const repo = new ClusterStateRepo(openStateStore(config), config.clusterId);
    try {
      await waitCaughtUp(server, repo);
      for (let i = 0; i < 40; i++) {
        await server.query('INSERT INTO app.t (v) VALUES (?), (?)', [`row ${i}a`, `row ${i}b`.repeat(5)]);
        if (i === 20) await server.query('FLUSH BINARY LOGS');
        if (i % 10 === 0) await sleep(120); // longer than the chunk age: the stream is cut here
      }
      // one transaction of ~12 MiB, far over the 64 KiB chunk limit: spilled, then uploaded by multipart
      await server.query("INSERT INTO app.t (v) SELECT REPEAT(CHAR(65 + seq % 26), 200) FROM app.seq_1_to_60000");
      await server.query('ALTER TABLE app.t ADD COLUMN w INT');
      await server.query('UPDATE app.t SET w = id WHERE id % 3 = 0');
      await waitCaughtUp(server, repo);
    } finally {
      await streamer.stop();
      const reason = await running;
      await close();
      assert.equal(reason.kind, 'stopped', reason.kind === 'failed' ? String(reason.error) : '');
    }
    const chunks = await assertChunksRebuildBinlog(t, server, config);
    assert.ok(chunks >= 5, `expected several chunks, got ${chunks}`);
    let largest = 0;
    for await (const o of objectStoreFor(config).list('stream-basic/binlog/')) largest = Math.max(largest, o.sizeBytes);
    assert.ok(largest > 10 * 1024 * 1024, `the large transaction should be one chunk, largest is ${largest}`);
    for await (const o of objectStoreFor(config).list('stream-basic/staging/')) assert.fail(`staging object left behind: ${o.key}`);
  });
});
