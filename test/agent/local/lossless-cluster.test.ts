import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import mysql from 'mysql2/promise';
import { ClusterStateRepo, handoverOf } from '../../../agent/cluster/repo.js';
import { SEMI_SYNC_TIMEOUT_MS } from '../../../agent/instance/semi-sync.js';
import { clusterDown, clusterKill, clusterUp, primaryInstance, waitForExecution, type ClusterUp } from '../../../agent/local/cluster/cluster.js';
import { readInstances } from '../../../agent/local/cluster/compute.js';
import { gtidSeq, NumberedWriter, positionSeq, type Ack } from '../../../agent/local/cluster/writer.js';
import { freePort } from '../../../agent/server/free-port.js';
import { pidAlive } from '../../../agent/server/process-util.js';
import { openStateStore } from '../../../agent/wiring.js';

const ROOT_PASSWORD = 'squirrel-root';

/** The primary's semi-sync variables and status counters, read as root on its own port. */
async function semiSync(port: number): Promise<Record<string, string>> {
  const conn = await mysql.createConnection({ host: '127.0.0.1', port, user: 'root', password: ROOT_PASSWORD });
  try {
    const [vars] = await conn.query("SHOW GLOBAL VARIABLES LIKE 'rpl_semi_sync_master_%'");
    const [status] = await conn.query("SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_%'");
    return Object.fromEntries([...(vars as { Variable_name: string; Value: string }[]), ...(status as { Variable_name: string; Value: string }[])].map((r) => [r.Variable_name, String(r.Value)]));
  } finally {
    await conn.end();
  }
}

/** Fails unless the server on `port` runs semi-sync master as lossless strict needs it, its agent connected as a semi-sync replica. */
function assertLosslessPrimary(s: Record<string, string>, which: string): void {
  assert.equal(s.rpl_semi_sync_master_enabled, 'ON', `${which}: semi-sync master is off`);
  assert.equal(s.rpl_semi_sync_master_wait_point, 'AFTER_SYNC', `${which}: the wait point lets other sessions read a commit before it is durable`);
  assert.equal(Number(s.rpl_semi_sync_master_timeout), SEMI_SYNC_TIMEOUT_MS.strict, `${which}: the timeout would let commits fall back to asynchronous`);
  assert.equal(s.Rpl_semi_sync_master_status, 'ON', `${which}: semi-sync fell back to asynchronous`);
  assert.ok(Number(s.Rpl_semi_sync_master_clients) >= 1, `${which}: its agent is not connected as a semi-sync replica (${s.Rpl_semi_sync_master_clients} clients)`);
  assert.equal(s.Rpl_semi_sync_master_no_tx, '0', `${which}: ${s.Rpl_semi_sync_master_no_tx} commits were acknowledged without the agent`);
}

/**
 * Lossless mode with failover, end to end on the local cluster (real mariadbd, agents, stand-ins,
 * endpoint and control plane): every instance runs semi-sync master (AFTER_SYNC) and a lossless
 * agent; clients write through the endpoint under load; the primary is killed as EC2 would lose
 * it; once the failover has moved the endpoint, every commit any client saw acknowledged is on the
 * new primary, and the new primary is itself lossless.
 */
describe('local cluster, lossless strict: a kill under load loses no acknowledged commit', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sq-lossless-cluster-'));
  let up: ClusterUp;
  let repo: ClusterStateRepo;
  /** Several clients at once, each its own connection and table: commits that wait for the agent together. */
  const writers: NumberedWriter[] = [];

  before(async () => {
    up = await clusterUp(dir, { clusterId: 'lossless', endpointPort: await freePort(), leaseMs: 10_000, lossless: 'strict' });
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: up.env.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: up.env.AWS_SECRET_ACCESS_KEY });
    repo = new ClusterStateRepo(openStateStore({ table: up.env.SQUIRREL_TABLE!, region: up.env.SQUIRREL_REGION!, dynamodbEndpoint: up.env.SQUIRREL_DYNAMODB_ENDPOINT! }), 'lossless');
    for (const table of ['app.numbered', 'app.numbered_b', 'app.numbered_c', 'app.numbered_d']) {
      const w = new NumberedWriter(up.endpointUrl, table);
      writers.push(w);
      await w.start();
    }
  });

  after(async () => {
    for (const w of writers) await w.stop();
    const pids = readInstances(dir).map((i) => i.pid);
    await clusterDown(dir);
    for (const pid of pids) assert.ok(!pidAlive(pid), `instance process ${pid} outlived down`);
    if (process.env.SQUIRREL_KEEP_TEST_DIR) process.stderr.write(`kept ${dir}\n`);
    else rmSync(dir, { recursive: true, force: true });
  });

  it('the first primary runs semi-sync AFTER_SYNC with its agent as a semi-sync replica', async () => {
    await Promise.all(writers.map((w) => w.waitForAcks(20)));
    const primary = (await primaryInstance(dir))!;
    assert.equal(primary.job.kind, 'new-primary');
    assertLosslessPrimary(await semiSync(primary.port), `first primary ${primary.instanceId}`);
  });

  it('kill -9 of the primary under load: after the failover every acknowledged commit is on the new primary', async () => {
    await Promise.all(writers.map((w) => w.waitForAcks(50)));
    const old = (await primaryInstance(dir))!;
    const yesBefore = Number((await semiSync(old.port)).Rpl_semi_sync_master_yes_tx);
    const killed = await clusterKill(dir, 'instance');

    const outcome = await waitForExecution(dir, 'failover-lossless-epoch-1', 180_000);
    assert.equal(outcome.status, 'SUCCEEDED', JSON.stringify(outcome));
    // writes resume through the same endpoint, on every connection
    await Promise.all(writers.map((w) => w.waitForAcks(20)));
    const state = (await repo.read())!;
    assert.equal(state.epoch, 2);
    assert.equal(state.status, 'HEALTHY');
    const handover = handoverOf(state, 1);
    assert.ok(handover?.durable, 'epoch 1 has a handover');
    const durableSeq = positionSeq(handover.durable.gtid);

    await Promise.all(writers.map((w) => w.pause()));
    const conn = await mysql.createConnection(up.endpointUrl);
    try {
      let ackedByOld = 0;
      const lost: string[] = [];
      for (const w of writers) {
        // the first failed write after the kill separates the two primaries' acknowledgements
        const cut = w.errors.find((e) => e.at >= killed.at)!.at;
        const byOld = w.acked.filter((a) => a.at <= cut);
        ackedByOld += byOld.length;
        // lossless: the handover (epoch 1's durable position when epoch 2 was claimed) covers every commit the old primary acknowledged
        const pastHandover = byOld.filter((a) => gtidSeq(a.gtid) > durableSeq);
        assert.deepEqual(pastHandover.map(rowName), [], `${w.table}: acknowledged by the old primary past the handover ${handover.durable.gtid}`);
        const [rows] = await conn.query(`SELECT id FROM ${w.table}`);
        const present = new Set((rows as { id: number }[]).map((r) => r.id));
        lost.push(...w.acked.filter((a) => !present.has(a.id)).map((a) => `${w.table} ${rowName(a)}`));
      }
      assert.deepEqual(lost, [], 'acknowledged commits missing on the new primary');
      assert.ok(ackedByOld >= 4 * 50);
      const firstAfter = Math.min(...writers.map((w) => w.firstAckAfter(w.errors.find((e) => e.at >= killed.at)!.at)!.at));
      process.stderr.write(
        `lossless failover: ${ackedByOld} commits acknowledged by the old primary (its agent had acknowledged ${yesBefore} by the last look before the kill), handover ${handover.durable.gtid}; lost 0; first write accepted at the endpoint ${firstAfter - killed.at} ms after the kill\n`,
      );
    } finally {
      await conn.end();
      for (const w of writers) w.unpause();
    }
  });

  it('the replacement is lossless: semi-sync AFTER_SYNC, its agent a semi-sync replica, a commit returns only once durable', async () => {
    const primary = (await primaryInstance(dir))!;
    assert.equal(primary.job.kind, 'restore-and-promote');
    assert.equal(primary.epoch, 2);
    const before = await semiSync(primary.port);
    assertLosslessPrimary(before, `replacement ${primary.instanceId}`);

    // alone on the server (the writers paused), so nothing else moves the durable position
    await Promise.all(writers.map((w) => w.pause()));
    const conn = await mysql.createConnection(up.endpointUrl);
    try {
      const commits = 10;
      for (let i = 0; i < commits; i++) {
        await conn.query('INSERT INTO app.numbered VALUES (?, ?)', [1_000_000 + i, 'lossless check']);
        const [[g]] = (await conn.query('SELECT @@last_gtid AS g')) as unknown as [{ g: string }[]];
        const durable = (await repo.read())!.durable!;
        assert.equal(durable.epoch, 2);
        assert.ok(positionSeq(durable.gtid) >= gtidSeq(g!.g), `commit ${g!.g} returned but the durable position is at ${durable.gtid}`);
      }
      const afterCommits = await semiSync(primary.port);
      assert.equal(afterCommits.Rpl_semi_sync_master_no_tx, '0', 'a commit was acknowledged without the agent');
      assert.ok(Number(afterCommits.Rpl_semi_sync_master_yes_tx) >= Number(before.Rpl_semi_sync_master_yes_tx) + commits, `yes_tx ${before.Rpl_semi_sync_master_yes_tx} -> ${afterCommits.Rpl_semi_sync_master_yes_tx}`);
    } finally {
      await conn.end();
      for (const w of writers) w.unpause();
    }
  });

  it('kill -9 of the agent alone: commits wait for it (none falls back to asynchronous) and go on once it is restarted', async () => {
    await Promise.all(writers.map((w) => w.waitForAcks(20)));
    const primary = (await primaryInstance(dir))!;
    const killed = await clusterKill(dir, 'agent');
    const restarts = primary.status!.agentRestarts;
    for (let i = 0; i < 300 && ((await primaryInstance(dir))?.status?.agentRestarts ?? 0) <= restarts; i++) await sleep(100);
    await Promise.all(writers.map((w) => w.waitForAcks(20)));
    const after = (await primaryInstance(dir))!;
    assert.equal(after.instanceId, primary.instanceId, 'the agent\'s death alone is no failover');
    assert.equal(after.status!.agentRestarts, restarts + 1);
    assertLosslessPrimary(await semiSync(after.port), `${after.instanceId} after its agent's restart`);
    // strict mode's price: no commit was acknowledged while no agent ran (the writes stalled instead)
    const stall = Math.max(...writers.map((w) => {
      const before = w.acked.filter((a) => a.at <= killed.at).at(-1)!;
      return w.firstAckAfter(killed.at)!.at - before.at;
    }));
    // every acknowledgement so far, then the durable position: it covers all of them
    const lastAcks = writers.map((w) => w.acked.at(-1)!);
    const durable = (await repo.read())!.durable!;
    for (const a of lastAcks) assert.ok(positionSeq(durable.gtid) >= gtidSeq(a.gtid), `${rowName(a)} acknowledged, the durable position is at ${durable.gtid}`);
    process.stderr.write(`agent killed under lossless strict: the longest a client waited for a commit was ${stall} ms (the agent restarted by its supervisor)\n`);
  });
});

describe('local cluster, lossless best-effort', () => {
  it('runs its primary with semi-sync AFTER_SYNC and the bounded timeout, its agent a semi-sync replica', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sq-lossless-best-'));
    try {
      const up = await clusterUp(dir, { clusterId: 'best', endpointPort: await freePort(), lossless: 'best-effort' });
      const conn = await mysql.createConnection(up.endpointUrl);
      await conn.query('CREATE DATABASE app');
      await conn.end();
      const primary = (await primaryInstance(dir))!;
      const s = await semiSync(primary.port);
      assert.deepEqual(
        [s.rpl_semi_sync_master_enabled, s.rpl_semi_sync_master_wait_point, s.rpl_semi_sync_master_wait_no_slave, Number(s.rpl_semi_sync_master_timeout), s.Rpl_semi_sync_master_status],
        ['ON', 'AFTER_SYNC', 'ON', SEMI_SYNC_TIMEOUT_MS['best-effort'], 'ON'],
      );
      assert.ok(Number(s.Rpl_semi_sync_master_clients) >= 1);
      assert.ok(Number(s.Rpl_semi_sync_master_yes_tx) >= 1, 'the endpoint\'s commit waited for the agent');
    } finally {
      await clusterDown(dir);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function rowName(a: Ack): string {
  return `row ${a.id} (${a.gtid})`;
}
