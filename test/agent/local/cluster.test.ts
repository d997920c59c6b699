import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import mysql from 'mysql2/promise';
import { ClusterStateRepo, handoverOf } from '../../../agent/cluster/repo.js';
import { AgentProcess } from '../../../agent/local/agent-process.js';
import { clusterDown, clusterKill, clusterRestore, clusterStatus, clusterUp, primaryInstance, waitForExecution, type ClusterUp } from '../../../agent/local/cluster/cluster.js';
import { readInstances } from '../../../agent/local/cluster/compute.js';
import { readTimeline } from '../../../agent/local/cluster/files.js';
import { instanceStatus } from '../../../agent/local/cluster/instances.js';
import { gtidSeq, NumberedWriter, positionSeq } from '../../../agent/local/cluster/writer.js';
import { openStateStore } from '../../../agent/wiring.js';
import { freePort } from '../../../agent/server/free-port.js';
import { pidAlive } from '../../../agent/server/process-util.js';
import { MariaDbServer } from '../../../agent/server/mariadb.js';
import { s3ClientFor } from '../../../agent/local/s3.js';
import { runCli } from '../../harness/cli.js';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';

/**
 * The whole failover loop on this machine, through the CLI's functions: a local cluster of real
 * processes (mariadbd and agent per instance, the stand-ins, the endpoint forwarder, the control
 * plane running the synthesized workflows), a client writing numbered rows through the endpoint,
 * and the primary killed as EC2 would lose it. Twice; then a console restore in each mode.
 */
describe('local cluster: failover end to end against real servers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sq-cluster-'));
  let up: ClusterUp;
  let writer: NumberedWriter;
  let repo: ClusterStateRepo;
  const killedInstances: string[] = [];
  /** When the current epoch's writes began (the first failed write after the previous kill). */
  let epochSince = 0;

  before(async () => {
    up = await clusterUp(dir, { clusterId: 'e2e', endpointPort: await freePort(), leaseMs: 10_000 });
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: up.env.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: up.env.AWS_SECRET_ACCESS_KEY });
    repo = new ClusterStateRepo(openStateStore({ table: up.env.SQUIRREL_TABLE!, region: up.env.SQUIRREL_REGION!, dynamodbEndpoint: up.env.SQUIRREL_DYNAMODB_ENDPOINT! }), 'e2e');
    writer = new NumberedWriter(up.endpointUrl);
    await writer.start();
  });

  after(async () => {
    await writer?.stop();
    const pids = readInstances(dir).map((i) => i.pid);
    await clusterDown(dir);
    // everything the cluster started is gone: instances' process groups, control process, stand-ins
    for (const pid of pids) assert.ok(!pidAlive(pid), `instance process ${pid} outlived down`);
    if (process.env.SQUIRREL_KEEP_TEST_DIR) process.stderr.write(`kept ${dir}\n`);
    else rmSync(dir, { recursive: true, force: true });
  });

  /** Kills the primary under the write load; checks the failover's outcome against what was durable at the kill. */
  async function failover(epoch: number, what: 'instance' | 'server' = 'instance'): Promise<void> {
    await writer.waitForAcks(150);
    const killed = await clusterKill(dir, what);
    const killedAt = killed.at;
    killedInstances.push(killed.instanceId);

    // detection starts the failover named after the epoch it replaces; writes resume through the same endpoint
    const outcome = await waitForExecution(dir, `failover-e2e-epoch-${epoch}`, 180_000);
    assert.equal(outcome.status, 'SUCCEEDED', JSON.stringify(outcome));
    await writer.waitForAcks(100);
    // the old primary's last acknowledgements can arrive just after the kill: the first failed
    // write after it separates the two primaries
    const cut = writer.errors.find((e) => e.at >= killedAt)!.at;
    const acksBefore = writer.acked.filter((a) => a.at > epochSince && a.at <= cut);
    const acksAfter = writer.acked.filter((a) => a.at > cut);
    epochSince = cut;
    const resumed = acksAfter[0]!;
    const state = (await repo.read())!;
    assert.equal(state.epoch, epoch + 1);
    assert.equal(state.status, 'HEALTHY');
    const handover = handoverOf(state, epoch);
    assert.ok(handover?.durable, `epoch ${epoch} has a handover`);
    const durableSeq = positionSeq(handover.durable.gtid);

    // every transaction inside the durable position at the kill is present, nothing past it
    await writer.pause();
    const conn = await mysql.createConnection(up.endpointUrl);
    try {
      const [rows] = await conn.query('SELECT id FROM app.numbered');
      const present = new Set((rows as { id: number }[]).map((r) => r.id));
      const inside = acksBefore.filter((a) => gtidSeq(a.gtid) <= durableSeq);
      const past = acksBefore.filter((a) => gtidSeq(a.gtid) > durableSeq);
      assert.ok(inside.length > 0);
      for (const a of inside) assert.ok(present.has(a.id), `row ${a.id} (${a.gtid}) was durable at the kill (${handover.durable.gtid}) and is missing`);
      for (const a of past) assert.ok(!present.has(a.id), `row ${a.id} (${a.gtid}) was past the durable position ${handover.durable.gtid} and is present`);
      // and the new timeline's writes are all there
      for (const a of acksAfter) assert.ok(present.has(a.id), `row ${a.id}, acknowledged by the new primary, is missing`);
      const [[pos]] = (await conn.query('SELECT @@gtid_binlog_pos AS p')) as unknown as [{ p: string }[]];
      // the new primary continues the sequence right after the handover (strict GTID mode)
      assert.ok(positionSeq(pos!.p) > durableSeq);
    } finally {
      await conn.end();
      writer.unpause();
    }
    // the outcome is on record: squirrel status --json shows the primary and the last failover
    const status = await runCli(['status', '--json'], { env: { ...up.env, SQUIRREL_CLUSTER_ID: 'e2e' } });
    assert.equal(status.code, 0, status.stderr);
    const shown = JSON.parse(status.stdout) as { epoch: number; primary: { instanceId: string }; lastFailover: { epoch: number; result: string; startedAt: string; endpointMovedAt: string } };
    assert.equal(shown.epoch, epoch + 1);
    assert.equal(shown.primary.instanceId, (await primaryInstance(dir))!.instanceId);
    assert.deepEqual([shown.lastFailover.epoch, shown.lastFailover.result], [epoch + 1, 'SUCCEEDED']);
    assert.ok(Date.parse(shown.lastFailover.startedAt) >= killedAt && Date.parse(shown.lastFailover.endpointMovedAt) > Date.parse(shown.lastFailover.startedAt));
    const timeline = readTimeline(dir).filter((e) => Date.parse(e.at) >= killedAt - 1000);
    for (const kind of ['instance', 'workflow', 'compute', 'endpoint', 'notify']) assert.ok(timeline.some((e) => e.kind === kind), `timeline has ${kind}`);
    process.stderr.write(`failover of epoch ${epoch}: first write accepted at the endpoint ${resumed.at - killedAt} ms after the kill; lost ${acksBefore.length - acksBefore.filter((a) => gtidSeq(a.gtid) <= durableSeq).length} acknowledged (async mode)\n`);
  }

  it('kill -9 of the primary instance: detected, fenced, replaced, promoted; writes resume at the same endpoint', async () => {
    await failover(1);
  });

  it('the old primary\'s agent, started again on its server, is fenced and writes nothing', async () => {
    const old = readInstances(dir).find((i) => i.instanceId === killedInstances[0])!;
    const server = await MariaDbServer.start({ dir: join(old.dir, 'server'), keep: true, port: old.port, rootPassword: 'squirrel-root' });
    try {
      const s3 = s3ClientFor(up.env.SQUIRREL_S3_ENDPOINT!);
      const epoch1 = async () => (await s3.send(new ListObjectsV2Command({ Bucket: up.env.SQUIRREL_BUCKET!, Prefix: 'e2e/binlog/000001/' }))).KeyCount ?? 0;
      const before = await epoch1();
      const durableBefore = (await repo.read())!.durable;
      const agent = AgentProcess.start({ ...up.env, SQUIRREL_MYSQL_URL: server.url, SQUIRREL_INSTANCE_ID: old.instanceId, SQUIRREL_STATE_DIR: join(old.dir, 'agent') });
      const code = await Promise.race([agent.exited(), sleep(60_000).then(() => 'still running')]);
      if (code === 'still running') await agent.kill9();
      assert.notEqual(code, 0, agent.log);
      assert.notEqual(code, 'still running', agent.log);
      assert.equal(await epoch1(), before, 'no epoch-1 chunk was written');
      const after = (await repo.read())!;
      assert.equal(after.epoch, 2);
      assert.ok(after.durable!.seq >= durableBefore!.seq && after.durable!.epoch === 2, 'the durable position is epoch 2\'s own');
      s3.destroy();
    } finally {
      await server.stop();
    }
  });

  it('a second failover in a row', async () => {
    await failover(2);
  });

  it('kill -9 of the agent alone: the instance restarts it, it resumes from the durable position, no failover', async () => {
    await writer.waitForAcks(50);
    const before = (await primaryInstance(dir))!;
    const killed = await clusterKill(dir, 'agent');
    assert.equal(killed.pid, before.status!.agentPid);
    const restarted = (s: { agentRestarts: number; agentPid?: number } | undefined) => s?.agentRestarts === 1 && s.agentPid !== killed.pid;
    for (let i = 0; i < 150 && !restarted((await primaryInstance(dir))?.status); i++) await sleep(100);
    const after = (await primaryInstance(dir))!;
    assert.equal(after.instanceId, before.instanceId);
    assert.equal(after.status!.agentRestarts, 1);
    assert.notEqual(after.status!.agentPid, killed.pid);
    // the restarted agent moves the durable position on, in the same epoch
    await writer.waitForAcks(100);
    const target = writer.acked.at(-1)!;
    for (let i = 0; i < 100 && positionSeq((await repo.read())!.durable?.gtid) < gtidSeq(target.gtid); i++) await sleep(100);
    const state = (await repo.read())!;
    assert.equal(state.epoch, 3);
    assert.ok(positionSeq(state.durable?.gtid) >= gtidSeq(target.gtid));
  });

  it('kill -9 of the server alone: the instance ends, and is replaced', async () => {
    await failover(3, 'server');
  });

  it('console restore, new-instance: restores beside the primary across both epoch boundaries and equals it', async () => {
    await writer.pause();
    try {
      const primary = (await primaryInstance(dir))!;
      // the durable position catches up with the primary before the restore is asked for
      const conn = await mysql.createConnection(up.endpointUrl);
      const [[pos]] = (await conn.query('SELECT @@gtid_binlog_pos AS p')) as unknown as [{ p: string }[]];
      for (let i = 0; i < 100 && (await repo.read())!.durable?.gtid !== pos!.p; i++) await sleep(100);
      const name = await clusterRestore(dir, 'latest', 'new-instance');
      const outcome = await waitForExecution(dir, name);
      assert.equal(outcome.status, 'SUCCEEDED', JSON.stringify(outcome));
      const launched = (outcome.output as { launch: { instanceId: string; identity: { port: number } } }).launch;
      const inst = (await clusterStatus(dir)).instances.find((i) => i.instanceId === launched.instanceId)!;
      for (let i = 0; i < 600 && instanceStatus(inst.dir)?.phase !== 'restored'; i++) {
        assert.notEqual(instanceStatus(inst.dir)?.phase, 'failed', instanceStatus(inst.dir)?.detail);
        await sleep(200);
      }
      const copy = await mysql.createConnection({ host: '127.0.0.1', port: launched.identity.port, user: 'app', password: 'app-password' });
      try {
        const sum = async (c: mysql.Connection) => JSON.stringify((await c.query('SELECT COUNT(*) n, SUM(id) s, MAX(id) m FROM app.numbered'))[0]);
        assert.equal(await sum(copy), await sum(conn));
        // the primary was left alone: still the endpoint's, still the same epoch
        assert.equal((await primaryInstance(dir))!.instanceId, primary.instanceId);
        assert.equal((await repo.read())!.epoch, 4);
      } finally {
        await copy.end();
        await conn.end();
      }
    } finally {
      writer.unpause();
    }
  });

  it('console restore, replace-primary: fences the healthy primary, promotes the restored one, moves the endpoint', async () => {
    const old = (await primaryInstance(dir))!;
    const name = await clusterRestore(dir, 'latest', 'replace-primary');
    const outcome = await waitForExecution(dir, name, 180_000);
    assert.equal(outcome.status, 'SUCCEEDED', JSON.stringify(outcome));
    const state = (await repo.read())!;
    assert.equal(state.epoch, 5);
    assert.equal(state.status, 'HEALTHY');
    const now = (await primaryInstance(dir))!;
    assert.notEqual(now.instanceId, old.instanceId);
    assert.equal((await clusterStatus(dir)).instances.find((i) => i.instanceId === old.instanceId)!.state, 'stopped');
    const before = writer.acked.length;
    await writer.waitForAcks(50);
    assert.ok(writer.acked.length >= before + 50);
  });
});
