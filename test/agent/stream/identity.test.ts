import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildStreamer, objectStoreFor } from '../../../agent/cli/agent.js';
import { ClusterStateRepo } from '../../../agent/cluster/repo.js';
import { LineageError } from '../../../agent/errors.js';
import { binlogPrefix, clusterPk, stateSk } from '../../../agent/keys.js';
import type { MariaDbServer } from '../../../agent/server/mariadb.js';
import { serverEnd } from '../../../agent/local/catch-up.js';
import { silentLogger } from '../../../agent/log.js';
import { sleep } from '../../../agent/retry.js';
import type { ObjectStore } from '../../../agent/ports/object-store.js';
import { openStateStore } from '../../../agent/wiring.js';
import { AgentProcess } from '../../../agent/local/agent-process.js';
import { withMariaDb } from '../../harness/mariadb.js';
import { capturingLogger } from '../../harness/log.js';
import { withLocalStack } from '../../harness/stack.js';
import { startAgent, type PitrConfig } from '../../harness/pitr.js';
import { agentConfig, waitCaughtUp } from '../../harness/streaming.js';

async function keysOf(objects: ObjectStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of objects.list(prefix)) keys.push(o.key);
  return keys;
}

/** Waits until the durable position is in `epoch` and reaches where `server` is writing now. */
async function waitDurableIn(repo: ClusterStateRepo, epoch: number, server: MariaDbServer, agent: AgentProcess): Promise<void> {
  const end = await serverEnd(server);
  for (let i = 0; ; i++) {
    const d = (await repo.read())?.durable;
    if (d?.epoch === epoch && (d.file > end.file || (d.file === end.file && d.end >= end.pos))) return;
    assert.ok(agent.child.exitCode === null, `the agent exited: ${agent.log}`);
    assert.ok(i < 1500, `the durable position did not reach ${end.file}:${end.pos} in epoch ${epoch}: ${JSON.stringify(d)}\n${agent.log}`);
    await sleep(20);
  }
}

async function readOnly(server: MariaDbServer): Promise<number> {
  const [row] = await server.query<{ ro: number }[]>('SELECT @@global.read_only AS ro');
  return Number(row!.ro);
}

/** Runs one in-process streamer for `config` until it stops by itself (or 30 s); returns its stop reason. */
async function runUntilRefused(config: PitrConfig) {
  const giveUp = new AbortController();
  const { streamer, close } = buildStreamer(config, silentLogger, 'oldest', { clients: { giveUp: giveUp.signal } });
  const timer = setTimeout(() => {
    void streamer.stop();
    setTimeout(() => giveUp.abort(new Error('the agent did not stop in time')), 10_000).unref();
  }, 30_000);
  try {
    return await streamer.run();
  } finally {
    clearTimeout(timer);
    await close();
  }
}

describe('primary identity: an agent streams an epoch only from the server that continues its chain', () => {
  it('a fenced primary\'s agent, restarted by its supervisor, refuses the epoch claimed for the new primary, whose agent then streams it', async (t) => {
    // GIVEN primary A streaming epoch 1
    const a = await withMariaDb(t);
    const b = await withMariaDb(t, { serverId: 2 });
    const stack = await withLocalStack(t);
    const config = agentConfig(a, stack, 'identity-failover');
    const repo = new ClusterStateRepo(openStateStore(config), config.clusterId);
    const objects = objectStoreFor(config);
    const common = { ...stack.env, SQUIRREL_CLUSTER_ID: config.clusterId, SQUIRREL_CHUNK_MAX_AGE_MS: '50', SQUIRREL_HEARTBEAT_INTERVAL_MS: '200', SQUIRREL_LEASE_MS: '3000' };
    const envA = { ...common, SQUIRREL_MYSQL_URL: a.url, SQUIRREL_AGENT_ID: 'agent-a' };
    const agentA = AgentProcess.start(envA);
    t.after(() => agentA.kill9());
    await a.query('CREATE DATABASE app');
    await a.query('CREATE TABLE app.t (id INT PRIMARY KEY AUTO_INCREMENT, pad VARCHAR(100))');
    await a.query("INSERT INTO app.t (pad) VALUES ('a1'), ('a2'), ('a3')");
    await waitCaughtUp(a, repo);
    const epoch1 = (await repo.read())!;
    assert.equal(epoch1.epoch, 1);
    assert.equal(epoch1.primary?.port, a.port);

    // AND B, the replacement, holding everything A made durable (as a restore to latest leaves it)
    const [aPos] = await a.query<{ g: string }[]>('SELECT @@global.gtid_binlog_pos AS g');
    assert.equal(aPos!.g, epoch1.durable!.gtid);
    await b.query('RESET MASTER');
    await b.query('SET GLOBAL gtid_binlog_state = ?', [aPos!.g]);
    const startB = await serverEnd(b);

    // WHEN epoch 2 is claimed for B while A's agent lives, and A's agent is killed
    await repo.claimNextEpoch(1, { file: startB.file, pos: 4, gtid: aPos!.g }, Date.now(), { primary: { host: b.host, port: b.port }, force: true });
    await agentA.kill9();
    await a.query('SET GLOBAL read_only = OFF'); // whatever the killed agent did: the restart must do it itself
    // AND its supervisor restarts it with the same configuration
    const restarted = AgentProcess.start(envA);
    t.after(() => restarted.kill9());
    const exit = await Promise.race([restarted.exited(), sleep(30_000).then(() => 'still running')]);

    // THEN it refuses: not the epoch's primary, exits non-zero, and its server A is read-only
    assert.notEqual(exit, 0, restarted.log);
    assert.notEqual(exit, 'still running', restarted.log);
    assert.match(restarted.log, new RegExp(`epoch 2 of cluster identity-failover was claimed for 127\\.0\\.0\\.1:${b.port}; this agent's server is 127\\.0\\.0\\.1:${a.port}`));
    assert.equal(await readOnly(a), 1, 'the old primary was not set read-only');
    // AND it wrote nothing to epoch 2: no object, no lease, no position
    assert.deepEqual(await keysOf(objects, binlogPrefix('', config.clusterId, 2)), []);
    const after = (await repo.read())!;
    assert.deepEqual([after.epoch, after.leaseHolder, after.durableSeq, after.durable?.epoch], [2, '', 0, 1]);

    // WHEN B's agent joins epoch 2
    const agentB = AgentProcess.start({ ...common, SQUIRREL_MYSQL_URL: b.url, SQUIRREL_AGENT_ID: 'agent-b' });
    t.after(() => agentB.kill9());
    await b.query('CREATE DATABASE app');
    await b.query('CREATE TABLE app.t (id INT PRIMARY KEY AUTO_INCREMENT, pad VARCHAR(100))');
    await b.query("INSERT INTO app.t (pad) VALUES ('b1'), ('b2')");
    // THEN it streams: the durable position advances in epoch 2
    await waitDurableIn(repo, 2, b, agentB);
    const streamed = (await repo.read())!;
    assert.equal(streamed.leaseHolder, 'agent-b');
    assert.ok(streamed.durableSeq > 0);
    assert.equal(await agentB.stop(), 0, agentB.log);
  });

  it('refuses, naming the chunk and what differs, to stream an epoch from a server whose binlog does not continue the durable chunk', async (t) => {
    // GIVEN A's chunks durable in epoch 1
    const stack = await withLocalStack(t);
    const a = await withMariaDb(t);
    const config = agentConfig(a, stack, 'identity-bytes');
    const repo = new ClusterStateRepo(openStateStore(config), config.clusterId);
    const agent = startAgent(t, config);
    await a.query('CREATE DATABASE app');
    await a.query('CREATE TABLE app.t (id INT PRIMARY KEY AUTO_INCREMENT, pad VARCHAR(100))');
    await waitCaughtUp(a, repo);
    await a.query("INSERT INTO app.t (pad) VALUES ('a1')");
    await waitCaughtUp(a, repo);
    await agent.stop();
    const durable = (await repo.read())!.durable!;
    assert.ok(durable.seq > 1 && !durable.key.includes('-4-'), `the last durable chunk should begin mid-file: ${durable.key}`);
    // WHEN another server answers at A's address, with more binlog (and a GTID position past A's) but other bytes
    const port = a.port;
    await a.stop();
    const c = await withMariaDb(t, { port });
    await c.query('CREATE DATABASE other');
    await c.query('CREATE TABLE other.t (id INT PRIMARY KEY AUTO_INCREMENT, pad VARCHAR(100))');
    for (let i = 0; i < 10; i++) await c.query("INSERT INTO other.t (pad) VALUES ('c, not a: a different transaction of about the same size')");
    const [status] = await c.query<{ File: string; Position: number }[]>('SHOW MASTER STATUS');
    assert.equal(status!.File, durable.file);
    assert.ok(Number(status!.Position) > durable.end);
    // THEN its agent refuses with LineageError naming the epoch, the chunk and the first differing byte
    const reason = await runUntilRefused({ ...config, mysqlUrl: c.url });
    assert.equal(reason.kind, 'failed');
    const error = (reason as { error: unknown }).error;
    assert.ok(error instanceof LineageError, String(error));
    assert.equal(error.epoch, 1);
    assert.equal(error.object, durable.key);
    t.diagnostic(error.message);
    // what differs depends on where C's events fall: a differing byte, or no event where the chunk has one
    assert.match(error.message, new RegExp(`^server 127\\.0\\.0\\.1:${port} does not continue epoch 1 of cluster identity-bytes at ${durable.key}: (the server's byte at ${durable.file}:\\d+ differs from the chunk's|the server has an event at|the server cannot send its binlog from)`));
    // AND it holds nothing, wrote nothing, and left the server writable (it is not a fenced primary)
    const state = (await repo.read())!;
    assert.deepEqual([state.leaseHolder, state.durable?.key], ['', durable.key]);
    assert.equal(await readOnly(c), 0);
  });

  it('refuses a freshly claimed epoch when the server\'s GTID position does not contain the durable one', async (t) => {
    // GIVEN A's chunks durable in epoch 1, and epoch 2 claimed for a server C that never got them
    const stack = await withLocalStack(t);
    const a = await withMariaDb(t);
    const c = await withMariaDb(t, { serverId: 3 });
    const config = agentConfig(a, stack, 'identity-gtid');
    const repo = new ClusterStateRepo(openStateStore(config), config.clusterId);
    const agent = startAgent(t, config);
    await a.query('CREATE DATABASE app');
    for (let i = 0; i < 5; i++) await a.query('CREATE TABLE app.t' + i + ' (id INT PRIMARY KEY)');
    await waitCaughtUp(a, repo);
    await agent.stop();
    const durable = (await repo.read())!.durable!;
    await c.query('CREATE DATABASE other'); // one transaction of domain 0: short of A's
    const startC = await serverEnd(c);
    const [cPos] = await c.query<{ g: string }[]>('SELECT @@global.gtid_binlog_pos AS g');
    await repo.claimNextEpoch(1, { file: startC.file, pos: startC.pos, gtid: cPos!.g }, Date.now(), { primary: { host: c.host, port: c.port }, force: true });
    // WHEN C's agent joins epoch 2
    const reason = await runUntilRefused({ ...config, mysqlUrl: c.url });
    // THEN it refuses with LineageError naming the durable GTID position and the domain it lacks
    assert.equal(reason.kind, 'failed');
    const error = (reason as { error: unknown }).error;
    assert.ok(error instanceof LineageError, String(error));
    assert.equal(error.epoch, 2);
    assert.match(error.message, new RegExp(`does not continue epoch 2 of cluster identity-gtid at gtid ${durable.gtid}`));
    assert.match(error.message, new RegExp(`domain 0: the durable position is at ${durable.gtid}, the server only at ${cPos!.g}`));
    const state = (await repo.read())!;
    assert.deepEqual([state.epoch, state.leaseHolder, state.durableSeq], [2, '', 0]);
    assert.deepEqual(await keysOf(objectStoreFor(config), binlogPrefix('', config.clusterId, 2)), []);
  });

  it('waits while the epoch claimed for its server is not promoted yet, says so once, and streams it once a promote records its start', async (t) => {
    // GIVEN epoch 1 durable from A, and epoch 2 claimed for B before B was promoted
    const stack = await withLocalStack(t);
    const a = await withMariaDb(t);
    const b = await withMariaDb(t, { serverId: 2 });
    const config = agentConfig(a, stack, 'identity-pending');
    const stateStore = openStateStore(config);
    const repo = new ClusterStateRepo(stateStore, config.clusterId);
    const agentA = startAgent(t, config);
    await a.query('CREATE DATABASE app');
    await waitCaughtUp(a, repo);
    await agentA.stop();
    const [aPos] = await a.query<{ g: string }[]>('SELECT @@global.gtid_binlog_pos AS g');
    await b.query('RESET MASTER');
    await b.query('SET GLOBAL gtid_binlog_state = ?', [aPos!.g]);
    const startB = await serverEnd(b);
    await repo.claimNextEpoch(1, { file: startB.file, pos: 4, gtid: aPos!.g }, Date.now(), { primary: { host: b.host, port: b.port }, force: true });
    await stateStore.update(clusterPk(config.clusterId), stateSk, { startPending: true }, { and: [] });
    // WHEN B's agent starts
    const { log, lines } = capturingLogger();
    // a stop bounded like the CLI agent's: the stand-ins may be gone when the test's hooks stop it
    const giveUp = new AbortController();
    const { streamer, close } = buildStreamer({ ...config, mysqlUrl: b.url, agentId: 'agent-b' }, log, 'oldest', { clients: { giveUp: giveUp.signal } });
    const running = streamer.run();
    t.after(async () => {
      const timer = setTimeout(() => giveUp.abort(new Error('the test agent did not stop in time')), 10_000);
      await streamer.stop();
      await running;
      await close();
      clearTimeout(timer);
    });
    const pending = () => lines().filter((l) => String(l.msg).startsWith('epoch 2 is claimed for this server but not promoted yet'));
    for (let i = 0; pending().length === 0; i++) {
      assert.ok(i < 500, `the agent did not say it waits: ${JSON.stringify(lines())}`);
      await sleep(20);
    }
    await sleep(2500);
    // THEN it waits, holding nothing, and says so once
    assert.equal(pending().length, 1);
    assert.equal((await repo.read())!.leaseHolder, '');
    // WHEN a promote records where epoch 2 starts
    await stateStore.update(clusterPk(config.clusterId), stateSk, { startPending: false }, { and: [] });
    await b.query('CREATE DATABASE app');
    // THEN the agent joins and streams epoch 2
    for (let i = 0; ; i++) {
      const d = (await repo.read())!.durable;
      if (d?.epoch === 2) break;
      assert.ok(i < 1500, `nothing durable in epoch 2: ${JSON.stringify(lines().slice(-5))}`);
      await sleep(20);
    }
    await streamer.stop();
    assert.equal((await running).kind, 'stopped');
  });
});
