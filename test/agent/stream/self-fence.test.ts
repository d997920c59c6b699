import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { ExitCode } from '../../../agent/cli/command.js';
import { ClusterStateRepo } from '../../../agent/cluster/repo.js';
import { TcpForwarder } from '../../../agent/local/tcp-forwarder.js';
import type { MariaDbServer } from '../../../agent/server/mariadb.js';
import { sleep } from '../../../agent/retry.js';
import { openStateStore } from '../../../agent/wiring.js';
import { AgentProcess } from '../../../agent/local/agent-process.js';
import { withMariaDb } from '../../harness/mariadb.js';
import { withLocalStack } from '../../harness/stack.js';
import { agentConfig, waitCaughtUp } from '../../harness/streaming.js';

const LEASE_MS = 3_000;
const HEARTBEAT_MS = 200;
/** Past the lease, the fenced path has this long to make the server read-only (the machine is shared). */
const FENCE_SLACK_MS = 2_000;

const portOf = (endpoint: string) => Number(new URL(endpoint).port);

/** A DynamoDB that accepts connections and never answers: a network partition, not a refusal. */
async function blackHole(t: TestContext): Promise<{ host: string; port: number }> {
  const held = new Set<Socket>();
  const server = createServer((s) => {
    held.add(s);
    s.on('error', () => undefined);
    s.on('close', () => held.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    for (const s of held) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { host: '127.0.0.1', port: (server.address() as { port: number }).port };
}

/**
 * `server.query`, again on a new connection when the pooled one was ended: the fence ends every
 * client session, the test's own included.
 */
async function ask<T>(server: MariaDbServer, sql: string, params?: unknown[]): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await server.query<T>(sql, params);
    } catch (err) {
      if (!(err as { fatal?: boolean }).fatal || attempt >= 3) throw err;
    }
  }
}

async function readOnly(server: MariaDbServer): Promise<boolean> {
  const [row] = await ask<{ ro: number }[]>(server, 'SELECT @@global.read_only AS ro');
  return Number(row!.ro) === 1;
}

/** A server, the stack, and an agent whose only path to DynamoDB is a forwarder the test can send into a black hole. */
async function setup(t: TestContext, clusterId: string, extra: Record<string, string>) {
  const server = await withMariaDb(t);
  const stack = await withLocalStack(t);
  const ddb = await TcpForwarder.start({ host: '127.0.0.1', port: portOf(stack.dynamodb.endpoint) });
  t.after(() => ddb.stop());
  const hole = await blackHole(t);
  const config = agentConfig(server, stack, clusterId);
  const repo = new ClusterStateRepo(openStateStore(config), clusterId);
  await server.query('CREATE DATABASE app');
  await server.query('CREATE TABLE app.t (id INT PRIMARY KEY AUTO_INCREMENT)');
  const agent = AgentProcess.start({
    ...stack.env,
    SQUIRREL_DYNAMODB_ENDPOINT: `http://127.0.0.1:${ddb.port}`,
    SQUIRREL_CLUSTER_ID: clusterId,
    SQUIRREL_MYSQL_URL: server.url,
    SQUIRREL_AGENT_ID: 'partitioned',
    SQUIRREL_HEARTBEAT_INTERVAL_MS: String(HEARTBEAT_MS),
    SQUIRREL_LEASE_MS: String(LEASE_MS),
    SQUIRREL_CHUNK_MAX_AGE_MS: '50',
    ...extra,
  });
  t.after(() => agent.kill9());
  await server.query('INSERT INTO app.t VALUES (), ()');
  await waitCaughtUp(server, repo);
  await sleep(2 * HEARTBEAT_MS); // a renewal or two since the last advance
  return { server, agent, cut: () => ddb.retarget(hole) };
}

/** The agent's last log line, which says why it is fenced and what it did to the server. */
function fenceLine(agent: AgentProcess): string {
  const line = agent.log
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { msg?: string })
    .find((l) => l.msg?.includes('the server must not rejoin as it is'));
  assert.ok(line?.msg, `no fence report in the log:\n${agent.log}`);
  return line.msg;
}

describe('self-fencing on lease loss', () => {
  it('an agent cut off from DynamoDB for leaseMs puts its server read-only and exits with code 5', async (t) => {
    const { server, agent, cut } = await setup(t, 'self-fence', {});
    cut();
    const cutAt = Date.now();
    let readOnlyAfter: number | undefined;
    while (Date.now() - cutAt < LEASE_MS + FENCE_SLACK_MS) {
      if (await readOnly(server)) {
        readOnlyAfter = Date.now() - cutAt;
        break;
      }
      await sleep(25);
    }
    t.diagnostic(`read-only ${readOnlyAfter} ms after DynamoDB was cut (leaseMs ${LEASE_MS})`);
    assert.ok(readOnlyAfter !== undefined, `not read-only within leaseMs + ${FENCE_SLACK_MS} ms:\n${agent.log}`);
    // the last renewal was sent at most one heartbeat before the cut: the agent waited out its lease
    assert.ok(readOnlyAfter >= LEASE_MS - HEARTBEAT_MS - 100, `self-fenced ${readOnlyAfter} ms after the cut, before its lease could have expired`);
    const code = await Promise.race([agent.exited(), sleep(15_000).then(() => 'still running')]);
    assert.equal(code, ExitCode.selfFenced, agent.log);
    const report = fenceLine(agent);
    t.diagnostic(report);
    assert.match(report, /^fenced: the lease of cluster self-fence \(epoch 1\) was not renewed for \d+ ms \(leaseMs 3000\): this agent fenced its own server; .*put the server 127\.0\.0\.1:\d+ read-only/);
  });

  it('with selfFence=false, an agent cut off from DynamoDB keeps retrying and its server stays writable', async (t) => {
    const { server, agent, cut } = await setup(t, 'no-self-fence', { SQUIRREL_SELF_FENCE: 'false' });
    cut();
    await sleep(LEASE_MS + FENCE_SLACK_MS);
    assert.equal(await readOnly(server), false, agent.log);
    await ask(server, 'INSERT INTO app.t VALUES ()');
    assert.equal(agent.child.exitCode, null, `the agent exited:\n${agent.log}`);
    assert.doesNotMatch(agent.log, /fenced/);
  });
});
