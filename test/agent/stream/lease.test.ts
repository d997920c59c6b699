import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ClusterStateRepo } from '../../../agent/cluster/repo.js';
import { openStateStore } from '../../../agent/wiring.js';
import { sleep } from '../../../agent/retry.js';
import { AgentProcess } from '../../../agent/local/agent-process.js';
import { withMariaDb } from '../../harness/mariadb.js';
import { withLocalStack } from '../../harness/stack.js';
import { agentConfig, assertChunksRebuildBinlog, waitCaughtUp } from '../../harness/streaming.js';

describe('first start and the lease', () => {
  it('with --from current, starts where the server is writing and says so', async (t) => {
    const server = await withMariaDb(t);
    const stack = await withLocalStack(t);
    const config = agentConfig(server, stack, 'from-current');
    await server.query('CREATE DATABASE before_the_agent');
    await server.query('FLUSH BINARY LOGS');
    await server.query('CREATE DATABASE still_before');
    const [status] = await server.query<{ File: string; Position: number }[]>('SHOW MASTER STATUS');
    const agent = AgentProcess.start({ ...stack.env, SQUIRREL_CLUSTER_ID: config.clusterId, SQUIRREL_MYSQL_URL: server.url, SQUIRREL_AGENT_ID: 'a' }, ['--from', 'current']);
    const repo = new ClusterStateRepo(openStateStore(config), config.clusterId);
    try {
      for (let i = 0; !(await repo.read()) && i < 200; i++) await sleep(50);
      await server.query('CREATE DATABASE after_the_agent');
      await waitCaughtUp(server, repo);
    } finally {
      assert.equal(await agent.stop(), 0, agent.log);
    }
    assert.match(agent.log, new RegExp(`streaming from the server's current position ${status!.File.replace('.', '\\.')}:${status!.Position}`));
    const state = (await repo.read())!;
    assert.deepEqual([state.start.file, state.start.pos], [status!.File, Number(status!.Position)]);
    await assertChunksRebuildBinlog(t, server, config);
  });

  it('a second agent waits for the first one\'s lease, says so, and takes over once it expires', async (t) => {
    const server = await withMariaDb(t);
    const stack = await withLocalStack(t);
    const config = agentConfig(server, stack, 'two-agents');
    const env = { ...stack.env, SQUIRREL_CLUSTER_ID: config.clusterId, SQUIRREL_MYSQL_URL: server.url, SQUIRREL_LEASE_MS: '3000', SQUIRREL_HEARTBEAT_INTERVAL_MS: '300' };
    const repo = new ClusterStateRepo(openStateStore(config), config.clusterId);
    // two hosts, as their ids say: each agent has its own state directory, so only the lease
    // keeps the second out (one-agent.test.ts covers two agents on one host)
    const dirs = mkdtempSync(join(tmpdir(), 'squirrel-two-hosts-'));
    t.after(() => rmSync(dirs, { recursive: true, force: true }));
    await server.query('CREATE DATABASE app');
    await server.query('CREATE TABLE app.t (id INT PRIMARY KEY AUTO_INCREMENT)');
    const first = AgentProcess.start({ ...env, SQUIRREL_AGENT_ID: 'host-a', SQUIRREL_STATE_DIR: join(dirs, 'a') });
    let second: AgentProcess | undefined;
    try {
      await waitCaughtUp(server, repo);
      second = AgentProcess.start({ ...env, SQUIRREL_AGENT_ID: 'host-b', SQUIRREL_STATE_DIR: join(dirs, 'b') });
      for (let i = 0; !/waiting for the lease/.test(second.log) && i < 200; i++) await sleep(50);
      assert.match(second.log, /waiting for the lease: cluster two-agents is being streamed by host-a/);
      await server.query('INSERT INTO app.t VALUES (), (), ()');
      await waitCaughtUp(server, repo);
      assert.equal((await repo.read())?.leaseHolder, 'host-a', 'the second agent must not take a live lease');
      await first.kill9();
      const killedAt = Date.now();
      await server.query('INSERT INTO app.t VALUES (), ()');
      await waitCaughtUp(server, repo, 30_000);
      const state = (await repo.read())!;
      assert.equal(state.leaseHolder, 'host-b');
      assert.ok(Date.now() - killedAt >= 2000, 'the second agent took the lease before it expired');
      assert.equal(await second.stop(), 0, second.log);
      second = undefined;
    } finally {
      await first.kill9();
      if (second) await second.kill9();
    }
    await assertChunksRebuildBinlog(t, server, config);
  });
});
