import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildStreamer, objectStoreFor } from '../../../agent/cli/agent.js';
import { UnavailableError } from '../../../agent/errors.js';
import type { ObjectStore } from '../../../agent/ports/object-store.js';
import { ExitCode } from '../../../agent/cli/command.js';
import { TcpForwarder } from '../../../agent/local/tcp-forwarder.js';
import { sleep } from '../../../agent/retry.js';
import { clusterPk, stateSk } from '../../../agent/keys.js';
import { ClusterStateRepo } from '../../../agent/cluster/repo.js';
import { openStateStore } from '../../../agent/wiring.js';
import { AgentProcess } from '../../../agent/local/agent-process.js';
import { runCli } from '../../harness/cli.js';
import { capturingLogger } from '../../harness/log.js';
import { withMariaDb } from '../../harness/mariadb.js';
import { withLocalStack } from '../../harness/stack.js';
import { agentConfig, assertChunksRebuildBinlog, waitCaughtUp } from '../../harness/streaming.js';

async function forward(t: { after: (fn: () => Promise<void>) => void }, port: number): Promise<TcpForwarder> {
  const f = await TcpForwarder.start({ host: '127.0.0.1', port });
  t.after(() => f.stop());
  return f;
}

const portOf = (endpoint: string) => Number(new URL(endpoint).port);

describe('the agent is never silent', () => {
  it('reconnects after a network drop and a server restart, losing nothing', async (t) => {
    const server = await withMariaDb(t);
    const stack = await withLocalStack(t);
    const net = await forward(t, server.port);
    const config = { ...agentConfig(server, stack, 'drop'), mysqlUrl: server.url.replace(`:${server.port}`, `:${net.port}`) };
    await server.query('CREATE DATABASE app');
    await server.query('CREATE TABLE app.t (id INT PRIMARY KEY AUTO_INCREMENT, v TEXT)');
    const { log, lines } = capturingLogger();
    const { streamer, close } = buildStreamer(config, log, 'oldest');
    const running = streamer.run();
    const repo = new ClusterStateRepo(openStateStore(config), config.clusterId);
    const write = async (n: number) => {
      for (let i = 0; i < n; i++) await server.query('INSERT INTO app.t (v) VALUES (?)', ['x'.repeat(50)]);
    };
    try {
      await write(20);
      await waitCaughtUp(server, repo);
      net.cut();
      await write(20);
      await sleep(500);
      net.restore();
      await write(20);
      await server.restart();
      await write(20);
      await waitCaughtUp(server, repo);
    } finally {
      await streamer.stop();
      await close();
    }
    const reason = await running;
    assert.equal(reason.kind, 'stopped');
    t.diagnostic(JSON.stringify(lines().filter((l) => (l.level as number) >= 40)));
    const reconnects = lines().filter((l) => l.msg === 'binlog stream interrupted; reconnecting');
    assert.ok(reconnects.length >= 2, `expected reconnect logs, got ${JSON.stringify(lines().map((l) => l.msg))}`);
    assert.ok(reconnects.every((l) => typeof l.lagSeconds === 'number' && typeof l.err === 'string'));
    await assertChunksRebuildBinlog(t, server, config);
  });

  it('retries while S3 and DynamoDB are unreachable, logs the lag, and catches up', async (t) => {
    const server = await withMariaDb(t);
    const stack = await withLocalStack(t);
    const s3 = await forward(t, portOf(stack.s3.endpoint));
    const ddb = await forward(t, portOf(stack.dynamodb.endpoint));
    const config = {
      ...agentConfig(server, stack, 'outage'),
      // the outage is shorter than the default lease: the agent retries rather than fencing itself (self-fence.test.ts)
      leaseMs: 15_000,
      s3Endpoint: `http://127.0.0.1:${s3.port}`,
      dynamodbEndpoint: `http://127.0.0.1:${ddb.port}`,
    };
    await server.query('CREATE DATABASE app');
    await server.query('CREATE TABLE app.t (id INT PRIMARY KEY AUTO_INCREMENT, v TEXT)');
    const { log, lines } = capturingLogger();
    const { streamer, close } = buildStreamer(config, log, 'oldest');
    const running = streamer.run();
    // the test reads the state directly, not through the cut path
    const repo = new ClusterStateRepo(openStateStore(agentConfig(server, stack, 'outage')), config.clusterId);
    try {
      await waitCaughtUp(server, repo);
      const before = (await repo.read())?.durableSeq;
      s3.cut();
      ddb.cut();
      for (let i = 0; i < 30; i++) await server.query('INSERT INTO app.t (v) VALUES (?)', ['y'.repeat(200)]);
      await sleep(2500);
      assert.equal((await repo.read())?.durableSeq, before, 'nothing can become durable while S3 and DynamoDB are unreachable');
      s3.restore();
      ddb.restore();
      await waitCaughtUp(server, repo, 60_000);
    } finally {
      s3.restore();
      ddb.restore();
      await streamer.stop();
      await close();
    }
    assert.equal((await running).kind, 'stopped');
    const retries = lines().filter((l) => typeof l.msg === 'string' && (l.msg as string).endsWith('failed; retrying'));
    assert.ok(retries.length > 0, 'no retry was logged');
    assert.ok(retries.some((l) => typeof l.lagSeconds === 'number' && (l.lagSeconds as number) >= 1), `lag not logged: ${JSON.stringify(retries.slice(0, 3))}`);
    assert.ok(retries.every((l) => l.heldBytes === undefined || (l.heldBytes as number) <= 64 * 1024 * 1024));
    await assertChunksRebuildBinlog(t, server, config);
  });

  it('retries a store failure while it clears what an interrupted run left, at start', async (t) => {
    const server = await withMariaDb(t);
    const stack = await withLocalStack(t);
    const config = agentConfig(server, stack, 'strays-retry');
    const inner = objectStoreFor(config);
    const objects = Object.create(inner) as ObjectStore;
    let failures = 2;
    objects.list = (prefix, startAfter) => {
      if (failures-- > 0) throw new UnavailableError('object store', `injected: list ${prefix}`);
      return inner.list(prefix, startAfter);
    };
    await server.query('CREATE DATABASE app');
    const { log, lines } = capturingLogger();
    const { streamer, close } = buildStreamer(config, log, 'oldest', { objects });
    const running = streamer.run();
    try {
      await waitCaughtUp(server, new ClusterStateRepo(openStateStore(config), config.clusterId));
    } finally {
      await streamer.stop();
      await close();
    }
    const reason = await running;
    assert.equal(reason.kind, 'stopped', reason.kind === 'failed' ? String(reason.error) : '');
    assert.ok(lines().some((l) => l.msg === 'remove chunks past the durable position failed; retrying'), 'the failure was not retried');
  });

  it('stops with an error naming the file when a binlog it needs was purged', async (t) => {
    const server = await withMariaDb(t);
    const stack = await withLocalStack(t);
    const config = agentConfig(server, stack, 'purged');
    const env = { ...stack.env, SQUIRREL_CLUSTER_ID: config.clusterId, SQUIRREL_MYSQL_URL: server.url, SQUIRREL_AGENT_ID: 'purge-test' };
    const repo = new ClusterStateRepo(openStateStore(config), config.clusterId);
    const agent = AgentProcess.start(env);
    try {
      await waitCaughtUp(server, repo);
    } finally {
      assert.equal(await agent.stop(), 0, agent.log);
    }
    const durableFile = (await repo.read())!.durable!.file;
    await server.query('CREATE DATABASE app');
    await server.query('FLUSH BINARY LOGS');
    await server.query('FLUSH BINARY LOGS');
    // the server skips a file a dump thread still reads: wait until the stopped agent's is gone
    for (let i = 0; i < 200; i++) {
      const threads = await server.query<{ Command: string }[]>('SHOW PROCESSLIST');
      if (!threads.some((p) => p.Command === 'Binlog Dump')) break;
      await sleep(50);
    }
    const [status] = await server.query<{ File: string }[]>('SHOW MASTER STATUS');
    await server.query(`PURGE BINARY LOGS TO '${status!.File}'`);
    const left = await server.query<{ Log_name: string }[]>('SHOW BINARY LOGS');
    assert.ok(!left.some((l) => l.Log_name === durableFile), `${durableFile} was not purged`);
    const again = AgentProcess.start(env);
    const code = await Promise.race([again.exited(), sleep(30_000).then(() => 'still running after 30 s')]);
    await again.kill9();
    assert.equal(code, 1, again.log);
    assert.match(again.log, new RegExp(durableFile.replace('.', '\\.')));
    assert.match(again.log, /purged/i);
  });

  it('a fenced agent stops advancing, exits with a clear error and puts its server read-only', async (t) => {
    const server = await withMariaDb(t);
    const stack = await withLocalStack(t);
    const config = agentConfig(server, stack, 'fenced');
    const env = { ...stack.env, SQUIRREL_CLUSTER_ID: config.clusterId, SQUIRREL_MYSQL_URL: server.url, SQUIRREL_HEARTBEAT_INTERVAL_MS: '200', SQUIRREL_AGENT_ID: 'old-primary' };
    const stateStore = openStateStore(config);
    const repo = new ClusterStateRepo(stateStore, config.clusterId);
    const agent = AgentProcess.start(env);
    let code: number | string;
    try {
      await waitCaughtUp(server, repo);
      // the control plane claims epoch 2 for a replacement
      await stateStore.update(clusterPk(config.clusterId), stateSk, { epoch: 2, durableSeq: 0, leaseHolder: 'replacement' }, { field: 'epoch', eq: 1 });
      await server.query('CREATE TABLE mysql.after_fence (id INT)').catch(() => undefined);
      code = await Promise.race([agent.exited(), sleep(15_000).then(() => 'still running')]);
    } finally {
      await agent.kill9();
    }
    assert.equal(code, ExitCode.fenced, agent.log);
    assert.match(agent.log, /moved to epoch 2; this agent holds epoch 1/);
    const [ro] = await server.query<{ ro: number }[]>('SELECT @@global.read_only AS ro');
    assert.equal(Number(ro!.ro), 1);
    const after = await repo.read();
    assert.equal(after?.epoch, 2);
    assert.equal(after?.durableSeq, 0, 'the fenced agent advanced the position');
  });

  it('refuses to start on a misconfigured server or with bad credentials, saying what to fix', async (t) => {
    const server = await withMariaDb(t);
    const stack = await withLocalStack(t);
    const env = { ...stack.env, SQUIRREL_CLUSTER_ID: 'refuse', SQUIRREL_MYSQL_URL: server.url };
    await server.query("SET GLOBAL binlog_format = 'STATEMENT'");
    const bad = await runCli(['agent'], { env });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /binlog_format is STATEMENT, needs ROW/);
    assert.match(bad.stderr, /squirrel preflight/);
    await server.query("SET GLOBAL binlog_format = 'ROW'");
    const denied = await runCli(['agent'], { env: { ...env, SQUIRREL_MYSQL_URL: server.urlFor('root', 'wrong') } });
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /authentication failed for root@127\.0\.0\.1/);
  });
});

describe('bad AWS credentials', () => {
  it('stop the agent with an error that says what to set', async (t) => {
    const server = await withMariaDb(t);
    const stack = await withLocalStack(t);
    const env = { ...stack.env, SQUIRREL_CLUSTER_ID: 'creds', SQUIRREL_MYSQL_URL: server.url, AWS_ACCESS_KEY_ID: 'wrong', AWS_SECRET_ACCESS_KEY: 'wrong' };
    const r = await runCli(['agent'], { env, timeoutMs: 30_000 });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /credentials/);
    assert.match(r.stderr, /hint: Set AWS credentials/);
  });
});
