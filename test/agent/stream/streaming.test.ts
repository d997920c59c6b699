import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { compareWithServer, rebuildFiles } from '../../../agent/local/binlog-compare.js';
import type { MariaDbServer } from '../../../agent/local/mariadb.js';
import type { LocalStack } from '../../../agent/local/stack.js';
import { silentLogger } from '../../../agent/log.js';
import { buildStreamer, objectStoreFor } from '../../../agent/cli/agent.js';
import { ClusterStateRepo } from '../../../agent/stream/cluster-state.js';
import { openStateStore } from '../../../agent/wiring.js';
import { sleep } from '../../../agent/retry.js';
import { withMariaDb } from '../../harness/mariadb.js';
import { withLocalStack } from '../../harness/stack.js';

export function agentConfig(server: MariaDbServer, stack: LocalStack, clusterId: string) {
  for (const [k, v] of Object.entries(stack.env)) if (k.startsWith('AWS_')) process.env[k] = v;
  return {
    clusterId,
    mysqlUrl: server.url,
    bucket: stack.bucket,
    table: stack.table,
    region: stack.region,
    s3Endpoint: stack.s3.endpoint,
    dynamodbEndpoint: stack.dynamodb.endpoint,
    prefix: '',
    chunkMaxAgeMs: 50,
    chunkMaxBytes: 64 * 1024,
    heartbeatIntervalMs: 200,
    leaseMs: 3000,
    agentId: 'test-agent',
  };
}

/** Waits until the durable position reaches where the server is writing now. */
export async function waitCaughtUp(server: MariaDbServer, repo: ClusterStateRepo, timeoutMs = 30_000): Promise<void> {
  const [status] = await server.query<{ File: string; Position: number }[]>('SHOW MASTER STATUS');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const d = (await repo.read())?.durable;
    if (d && d.file === status!.File && d.end >= Number(status!.Position)) return;
    if (Date.now() > deadline) throw new Error(`not caught up: durable ${JSON.stringify(d)}, server at ${status!.File}:${status!.Position}`);
    await sleep(50);
  }
}

export async function assertChunksRebuildBinlog(t: TestContext, server: MariaDbServer, config: ReturnType<typeof agentConfig>): Promise<number> {
  const stateStore = openStateStore(config);
  const state = await new ClusterStateRepo(stateStore, config.clusterId).read();
  assert.ok(state?.durable, 'nothing durable');
  const { files, report } = await rebuildFiles(objectStoreFor(config), stateStore, '', state);
  assert.deepEqual(report.problems, []);
  const cmp = await compareWithServer(files, await server.binlogFiles());
  t.diagnostic(JSON.stringify(cmp));
  for (const c of cmp) assert.equal(c.firstDifference, -1, `${c.file} differs at byte ${c.firstDifference}`);
  // every file but the last is complete; the last reaches the durable end
  const names = [...files.keys()];
  for (const c of cmp.slice(0, -1)) assert.equal(c.rebuiltBytes, c.serverBytes, `${c.file} is incomplete`);
  assert.equal(files.get(names[names.length - 1]!)!.length, state.durable.end);
  return report.checked.chunks;
}

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
  });
});
