import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { objectStoreFor } from '../../agent/cli/agent.js';
import { readCatalog } from '../../agent/backup/catalog.js';
import { backupDue } from '../../agent/maintenance.js';
import { sleep } from '../../agent/retry.js';
import { ClusterStateRepo } from '../../agent/cluster/repo.js';
import { openStateStore } from '../../agent/wiring.js';
import { AgentProcess } from '../../agent/local/agent-process.js';
import { withMariaDb } from '../harness/mariadb.js';
import { withLocalStack } from '../harness/stack.js';
import { agentConfig, waitCaughtUp } from '../harness/streaming.js';

describe('scheduled maintenance', () => {
  const h = 3_600_000;
  const cases: [string, number | undefined, number, number, boolean][] = [
    ['no backup yet', undefined, 24 * h, 0, true],
    ['the newest is younger than the interval', 10 * h, 24 * h, 20 * h, false],
    ['the newest is exactly the interval old', 0, 24 * h, 24 * h, true],
    ['the newest is overdue (an agent restarted late)', 0, 24 * h, 50 * h, true],
  ];
  for (const [name, newest, interval, now, due] of cases) {
    it(`a backup is ${due ? '' : 'not '}due when ${name}`, () => assert.equal(backupDue(newest, interval, now), due));
  }

  it('the agent takes base backups on its schedule while it streams', async (t) => {
    const server = await withMariaDb(t);
    const stack = await withLocalStack(t);
    const config = agentConfig(server, stack, 'scheduled');
    await server.query('CREATE DATABASE app');
    await server.query('CREATE TABLE app.t (id INT PRIMARY KEY AUTO_INCREMENT, v INT)');
    const agent = AgentProcess.start({
      ...stack.env,
      SQUIRREL_CLUSTER_ID: config.clusterId,
      SQUIRREL_MYSQL_URL: server.url,
      SQUIRREL_BACKUP_INTERVAL: '4s',
      SQUIRREL_LOG_LEVEL: 'info',
      SQUIRREL_AGENT_ID: 'scheduled',
    });
    const repo = new ClusterStateRepo(openStateStore(config), config.clusterId);
    let backups = 0;
    try {
      const deadline = Date.now() + 40_000;
      while (Date.now() < deadline) {
        await server.query('INSERT INTO app.t (v) VALUES (1), (2)');
        backups = (await readCatalog(objectStoreFor(config), '', config.clusterId)).complete.length;
        if (backups >= 2) break;
        await sleep(500);
      }
      await waitCaughtUp(server, repo);
    } finally {
      assert.equal(await agent.stop(), 0, agent.log);
    }
    assert.ok(backups >= 2, `expected two scheduled backups, found ${backups}: ${agent.log.slice(-2000)}`);
    const catalog = await readCatalog(objectStoreFor(config), '', config.clusterId);
    const [first, second] = catalog.complete;
    assert.ok(Date.parse(second!.completedAt) - Date.parse(first!.completedAt) >= 3500, 'backups closer together than the interval');
    assert.match(agent.log, /scheduled base backup complete/);
  });
});
