import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildStreamer } from '../../../agent/cli/agent.js';
import { waitCaughtUp } from '../../../agent/local/catch-up.js';
import { sleep } from '../../../agent/retry.js';
import { ClusterStateRepo } from '../../../agent/cluster/repo.js';
import type { StopReason } from '../../../agent/stream/streamer.js';
import { openStateStore } from '../../../agent/wiring.js';
import { runCli } from '../../harness/cli.js';
import { capturingLogger } from '../../harness/log.js';
import { startLosingProxy } from '../../harness/losing-proxy.js';
import { withMariaDb } from '../../harness/mariadb.js';
import { withLocalStack } from '../../harness/stack.js';
import { agentConfig, assertChunksRebuildBinlog } from '../../harness/streaming.js';

describe('streaming agent whose durable-position writes lose their response', () => {
  it('recognises its own landed writes, keeps streaming and moving the durable position, and verify stays clean', async (t) => {
    const server = await withMariaDb(t);
    const stack = await withLocalStack(t);
    // GIVEN DynamoDB that applies every third durable-position write and drops its response, so
    // that the SDK re-sends it and the repeat fails its condition
    let advances = 0;
    const proxy = await startLosingProxy(stack.dynamodb.endpoint, (r) => r.operation === 'UpdateItem' && r.body.includes('"durableBy"') && r.attempt === 1 && ++advances % 3 === 0);
    t.after(() => proxy.stop());
    const config = { ...agentConfig(server, stack, 'lost-response'), dynamodbEndpoint: proxy.endpoint };
    const repo = new ClusterStateRepo(openStateStore(agentConfig(server, stack, 'lost-response')), config.clusterId);
    await server.query('CREATE DATABASE app');
    await server.query('CREATE TABLE app.t (id INT PRIMARY KEY AUTO_INCREMENT, v TEXT)');

    const { log, lines } = capturingLogger();
    const { streamer, close } = buildStreamer(config, log, 'oldest');
    let ended: StopReason | undefined;
    const running = streamer.run().then((r) => (ended = r));
    const stillRunning = () => {
      if (ended) throw new Error(`the streamer stopped: ${ended.kind === 'failed' ? String(ended.error) : ended.kind}`);
    };
    const seqs: number[] = [];
    try {
      // WHEN the application keeps writing, in rounds longer than the chunk age
      for (let round = 0; round < 8; round++) {
        for (let i = 0; i < 5; i++) {
          await server.query('INSERT INTO app.t (v) VALUES (?)', [`round ${round} row ${i}`]);
          await sleep(60);
        }
        await waitCaughtUp(repo, server, { timeoutMs: 30_000, check: stillRunning });
        seqs.push((await repo.read())!.durableSeq);
      }
    } finally {
      await streamer.stop();
      await running;
      await close();
    }

    // THEN the agent stopped only when told to, every round moved the durable position, and some
    // of those moves had lost their response
    assert.equal(ended?.kind, 'stopped', ended?.kind === 'failed' ? String(ended.error) : '');
    for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i]! > seqs[i - 1]!, `durable seq did not move: ${seqs.join(', ')}`);
    assert.ok(proxy.lost >= 3, `only ${proxy.lost} responses were dropped`);
    assert.deepEqual(lines().filter((l) => (l.level as number) >= 50), []);
    const verify = await runCli(['verify', '--json'], { env: { ...stack.env, SQUIRREL_CLUSTER_ID: config.clusterId } });
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    assert.deepEqual(JSON.parse(verify.stdout).problems, []);
    await assertChunksRebuildBinlog(t, server, config);
  });
});
