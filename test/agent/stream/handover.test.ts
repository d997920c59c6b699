import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { objectStoreFor } from '../../../agent/cli/agent.js';
import { binlogPrefix, parseChunkKey } from '../../../agent/keys.js';
import { silentLogger } from '../../../agent/log.js';
import { promote } from '../../../agent/restore/promote.js';
import { parseTarget } from '../../../agent/restore/target.js';
import { replayViaFakePrimary } from '../../../agent/serve/replay.js';
import { sleep } from '../../../agent/retry.js';
import { ClusterStateRepo } from '../../../agent/cluster/repo.js';
import { verifyCluster } from '../../../agent/stream/verify.js';
import { openStateStore } from '../../../agent/wiring.js';
import { AgentProcess } from '../../../agent/local/agent-process.js';
import { startHoldingProxy } from '../../harness/holding-proxy.js';
import { withMariaDb } from '../../harness/mariadb.js';
import { backup, numbersIn, range, restoreForTest, SequenceWriter, startAgent } from '../../harness/pitr.js';
import { withLocalStack } from '../../harness/stack.js';
import { agentConfig, waitCaughtUp } from '../../harness/streaming.js';

/**
 * GIVEN a real agent streaming epoch 1 (rows 1..30 durable at seq K, with a base backup), whose
 * next chunk K+1 is held in flight — its PUT to S3 (`hold: 's3'`: K+1 never stored) or its
 * advance in DynamoDB (`hold: 'dynamodb'`: K+1 stored, never made durable) — while later chunks
 * land; the agent is then killed (SIGKILL) mid-upload.
 * AND a replacement B restored to latest and promoted, for which epoch 2 is claimed; B's agent
 * streams rows 101..110 under epoch 2.
 */
async function epochOneDiesMidUpload(t: TestContext, hold: 's3' | 'dynamodb') {
  const a = await withMariaDb(t);
  const stack = await withLocalStack(t);
  const config = agentConfig(a, stack, `handover-${hold}`);
  const [setup] = await a.query<{ g: string }[]>('SELECT @@gtid_binlog_pos AS g');
  const writer = await SequenceWriter.open(t, a);
  const objects = objectStoreFor(config);
  const repo = new ClusterStateRepo(openStateStore(config), config.clusterId);
  let holdSeq = 0;
  const fragment = () => `${binlogPrefix('', config.clusterId, 1)}${String(holdSeq).padStart(12, '0')}-`;
  const proxy = await startHoldingProxy(hold === 's3' ? stack.env.SQUIRREL_S3_ENDPOINT! : stack.env.SQUIRREL_DYNAMODB_ENDPOINT!, (r) =>
    holdSeq > 0 && (hold === 's3' ? r.method === 'PUT' && decodeURIComponent(r.url).includes(fragment()) : r.body.includes(fragment()) && r.body.includes('durableSeq')),
  );
  t.after(() => proxy.stop());
  const endpoint: Record<string, string> = hold === 's3' ? { SQUIRREL_S3_ENDPOINT: proxy.endpoint } : { SQUIRREL_DYNAMODB_ENDPOINT: proxy.endpoint };
  const agent = AgentProcess.start({ ...stack.env, ...endpoint, SQUIRREL_CLUSTER_ID: config.clusterId, SQUIRREL_MYSQL_URL: a.url, SQUIRREL_AGENT_ID: 'old-primary', SQUIRREL_CHUNK_MAX_AGE_MS: '50', SQUIRREL_HEARTBEAT_INTERVAL_MS: '200' });
  t.after(() => agent.kill9());
  await writer.write(20);
  await waitCaughtUp(a, repo);
  await backup(config, repo);
  await writer.write(10);
  await waitCaughtUp(a, repo);
  const k = (await repo.read())!.durableSeq;

  // WHEN chunk K+1 is held in flight while K+2 lands, and the agent is killed
  holdSeq = k + 1;
  const landed = async (seq: number) => {
    for await (const o of objects.list(binlogPrefix('', config.clusterId, 1))) if (parseChunkKey(o.key)!.seq === seq) return true;
    return false;
  };
  for (let i = 0; !(await landed(k + 2)); i++) {
    assert.ok(i < 100, `seq ${k + 2} never landed: ${agent.log}`);
    await writer.write(1);
    await sleep(100);
  }
  assert.equal(proxy.held.length > 0, true, 'the chunk was not held');
  await agent.kill9();
  assert.equal(await landed(k + 1), hold === 'dynamodb');
  const handover = (await repo.read())!;
  assert.equal(handover.durableSeq, k);

  const b = (await restoreForTest(t, config, parseTarget('latest'))).server!;
  assert.deepEqual(await numbersIn(b), range(1, 30));
  await promote(b.url, { force: true }); // the epoch is claimed after, by hand (promote-checks.test.ts covers claim, restore, promote)
  await b.query('FLUSH BINARY LOGS');
  const [status] = await b.query<{ File: string }[]>('SHOW MASTER STATUS');
  const [bGtid] = await b.query<{ g: string }[]>('SELECT @@gtid_binlog_pos AS g');
  const claimed = await repo.claimNextEpoch(1, { file: status!.File, pos: 4, gtid: bGtid!.g }, Date.now(), { force: true });
  assert.equal(claimed.handovers?.[0]?.durable?.seq, k);
  const agentB = startAgent(t, { ...config, mysqlUrl: b.url, agentId: 'new-primary' });
  for (let n = 101; n <= 110; n++) await b.query('INSERT INTO app.seq (n, pad, at) VALUES (?, ?, ?)', [n, `row ${n} `, Date.now()]);
  await waitCaughtUp(b, agentB.repo);
  await agentB.stop();
  const [end] = await b.query<{ g: string }[]>('SELECT @@gtid_binlog_pos AS g');
  return { config, objects, repo, k, setup: setup!.g, end: end!.g, expected: [...range(1, 30), ...range(101, 110)] };
}

describe('the handover ends epoch 1 where its promise ended', () => {
  it('after an agent dies with seq K+1 in flight and K+2 stored, restore, the fake primary and verify end epoch 1 at the handover instead of refusing', async (t) => {
    const c = await epochOneDiesMidUpload(t, 's3');
    // THEN verify is ok and lists K+2 as unpromised and ignored
    const state = (await c.repo.read())!;
    const report = await verifyCluster(c.objects, openStateStore(c.config), '', state);
    assert.deepEqual(report.problems, []);
    assert.ok(report.strays.some((s) => parseChunkKey(s)!.epoch === 1 && parseChunkKey(s)!.seq === c.k + 2), JSON.stringify(report.strays));
    // AND a restore to latest joins epoch 1 up to the handover with epoch 2
    const restored = (await restoreForTest(t, c.config, parseTarget('latest'))).server!;
    assert.deepEqual(await numbersIn(restored), c.expected);
    // AND the fake primary serves the same to a fresh server
    const fresh = await withMariaDb(t, { serverId: 7 });
    await fresh.query('RESET MASTER');
    await replayViaFakePrimary({
      server: fresh,
      serverName: 'fresh server',
      primary: { objects: c.objects, stateStore: openStateStore(c.config), prefix: '', clusterId: c.config.clusterId },
      target: c.end,
      startGtid: c.setup,
      log: silentLogger,
    });
    assert.deepEqual(await numbersIn(fresh), c.expected);
  });

  it('after an agent dies with seq K+1 stored but never made durable, neither the pipe restore nor the fake primary applies it', async (t) => {
    const c = await epochOneDiesMidUpload(t, 'dynamodb');
    // THEN a pipe restore holds what was promised, not the unpromised K+1 and after
    const restored = (await restoreForTest(t, c.config, parseTarget('latest'), { via: 'pipe' })).server!;
    assert.deepEqual(await numbersIn(restored), c.expected);
    // AND the fake primary serves the same
    const fresh = await withMariaDb(t, { serverId: 7 });
    await fresh.query('RESET MASTER');
    await replayViaFakePrimary({
      server: fresh,
      serverName: 'fresh server',
      primary: { objects: c.objects, stateStore: openStateStore(c.config), prefix: '', clusterId: c.config.clusterId },
      target: c.end,
      startGtid: c.setup,
      log: silentLogger,
    });
    assert.deepEqual(await numbersIn(fresh), c.expected);
  });
});
