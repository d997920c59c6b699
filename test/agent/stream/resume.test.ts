import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import mysql from 'mysql2/promise';
import { ClusterStateRepo } from '../../../agent/cluster/repo.js';
import { openStateStore } from '../../../agent/wiring.js';
import { sleep } from '../../../agent/retry.js';
import { AgentProcess } from '../../../agent/local/agent-process.js';
import { withMariaDb } from '../../harness/mariadb.js';
import { withLocalStack } from '../../harness/stack.js';
import { agentConfig, assertChunksRebuildBinlog, waitCaughtUp } from '../../harness/streaming.js';

const KILLS = Number(process.env.SQUIRREL_TEST_KILLS ?? 20);

/** Inserts numbered rows in small transactions until stopped. */
function writeLoad(url: string): { stop: () => Promise<number> } {
  let stopping = false;
  let committed = 0;
  const done = (async () => {
    const conn = await mysql.createConnection(url);
    try {
      while (!stopping) {
        await conn.beginTransaction();
        await conn.query('INSERT INTO app.seq (n, pad) VALUES (?, ?), (?, ?)', [committed * 2, 'x'.repeat(100), committed * 2 + 1, 'y'.repeat(300)]);
        await conn.commit();
        committed++;
        if (committed % 500 === 0) await conn.query('FLUSH BINARY LOGS');
      }
    } finally {
      await conn.end();
    }
  })();
  return {
    stop: async () => {
      stopping = true;
      await done;
      return committed;
    },
  };
}

describe('agent restarts', () => {
  it(`resumes without gap or duplicate after kill -9 at ${KILLS} random moments under load`, async (t) => {
    const server = await withMariaDb(t);
    const stack = await withLocalStack(t);
    const config = agentConfig(server, stack, 'resume');
    const env: Record<string, string> = {
      ...stack.env,
      SQUIRREL_CLUSTER_ID: config.clusterId,
      SQUIRREL_MYSQL_URL: server.url,
      SQUIRREL_CHUNK_MAX_AGE_MS: '30',
      SQUIRREL_CHUNK_MAX_BYTES: '16384',
      SQUIRREL_HEARTBEAT_INTERVAL_MS: '200',
      SQUIRREL_AGENT_ID: 'resume-test-agent',
      SQUIRREL_LOG_LEVEL: 'warn',
    };
    await server.query('CREATE DATABASE app');
    await server.query('CREATE TABLE app.seq (n INT PRIMARY KEY, pad VARCHAR(400))');
    const load = writeLoad(server.url);
    const repo = new ClusterStateRepo(openStateStore(config), config.clusterId);
    let agent: AgentProcess | undefined;
    let committed = 0;
    const seqs: number[] = [];
    try {
      for (let i = 0; i < KILLS; i++) {
        agent = AgentProcess.start(env);
        // kill at a random moment once this run is streaming (its start-up alone can take seconds
        // on a loaded machine, and a kill before it streams tests nothing)
        const before = seqs[seqs.length - 1] ?? 0;
        for (const deadline = Date.now() + 20_000; ((await repo.read())?.durableSeq ?? 0) <= before && Date.now() < deadline; ) await sleep(20);
        await sleep(Math.random() * 1200);
        await agent.kill9();
        seqs.push((await repo.read())?.durableSeq ?? 0);
      }
      committed = await load.stop();
      agent = AgentProcess.start(env);
      await waitCaughtUp(server, repo, 60_000);
      assert.equal(await agent.stop(), 0, agent.log);
      agent = undefined;
    } finally {
      if (agent) await agent.kill9();
      await load.stop();
    }
    t.diagnostic(`${committed} transactions committed; durable seq after each kill: ${seqs.join(' ')}`);
    assert.ok(committed > 100, `the load committed only ${committed} transactions`);
    // the position moved forward across the kills, never back
    for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i]! >= seqs[i - 1]!, `durable seq went back: ${seqs.join(' ')}`);
    assert.ok(seqs[seqs.length - 1]! > seqs[0]!, 'the position never advanced between kills');
    await assertChunksRebuildBinlog(t, server, config);
  });
});
