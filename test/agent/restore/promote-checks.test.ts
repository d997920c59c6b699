import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { objectStoreFor } from '../../../agent/cli/agent.js';
import { ClusterStateRepo } from '../../../agent/cluster/repo.js';
import type { ClusterState } from '../../../agent/cluster/state.js';
import { PromoteRefusedError } from '../../../agent/errors.js';
import { TcpForwarder } from '../../../agent/local/tcp-forwarder.js';
import type { MariaDbServer } from '../../../agent/server/mariadb.js';
import { checkPromote, positionDifferences } from '../../../agent/restore/promote-checks.js';
import { promote } from '../../../agent/restore/promote.js';
import { parseTarget } from '../../../agent/restore/target.js';
import { sleep } from '../../../agent/retry.js';
import { verifyCluster } from '../../../agent/stream/verify.js';
import { openStateStore } from '../../../agent/wiring.js';
import { runCli } from '../../harness/cli.js';
import { withMariaDb } from '../../harness/mariadb.js';
import { backup, numbersIn, range, restoreForTest, SequenceWriter, startAgent } from '../../harness/pitr.js';
import { withLocalStack } from '../../harness/stack.js';
import { agentConfig, waitCaughtUp } from '../../harness/streaming.js';

describe('what promote checks (pure)', () => {
  it('compares the applied position with the target in every domain', () => {
    assert.deepEqual(positionDifferences('0-1-30,7-1-12', '7-1-12,0-1-30'), []);
    assert.deepEqual(positionDifferences('', ''), []);
    assert.deepEqual(positionDifferences('0-1-28,7-1-12', '0-1-30,7-1-12'), [{ domain: 0, server: '0-1-28', target: '0-1-30', how: 'behind' }]);
    assert.deepEqual(positionDifferences('0-1-30,7-1-13', '0-1-30,7-1-12'), [{ domain: 7, server: '7-1-13', target: '7-1-12', how: 'ahead' }]);
    // a domain on one side only: behind where only the target has it, ahead where only the server does
    assert.deepEqual(positionDifferences('0-1-30', '0-1-30,7-1-12'), [{ domain: 7, server: '', target: '7-1-12', how: 'behind' }]);
    assert.deepEqual(positionDifferences('0-1-30,9-2-1', '0-1-30'), [{ domain: 9, server: '9-2-1', target: '', how: 'ahead' }]);
    // the same sequence number written by another server is another history
    assert.deepEqual(positionDifferences('0-2-30', '0-1-30'), [{ domain: 0, server: '0-2-30', target: '0-1-30', how: 'differs' }]);
  });

  const me = { host: '127.0.0.1', port: 3307 };
  const state = (over: Partial<ClusterState> = {}): ClusterState => ({
    clusterId: 'c', epoch: 2, status: 'FAILING_OVER', durableSeq: 0, start: { file: '', pos: 0, gtid: '0-1-30' }, startPending: true, primary: me,
    durable: { epoch: 1, seq: 9, file: 'b.000001', end: 900, gtid: '0-1-30', key: 'k', at: '' },
    leaseHolder: '', leaseToken: '', leaseExpiresAt: 0, heartbeatAt: null, server: null, ...over,
  });
  const cluster = (s: ClusterState | undefined) => ({ clusterId: 'c', state: s, identity: me });
  const kinds = (facts: Parameters<typeof checkPromote>[0]) => checkPromote(facts).map((r) => r.kind);
  const rows: { name: string; facts: Parameters<typeof checkPromote>[0]; refusals: string[] }[] = [
    { name: 'the durable position applied, the epoch claimed for this server', facts: { server: 's', applied: '0-1-30', cluster: cluster(state()) }, refusals: [] },
    { name: 'a server behind the durable position', facts: { server: 's', applied: '0-1-28', cluster: cluster(state()) }, refusals: ['target'] },
    { name: 'a server ahead of the durable position', facts: { server: 's', applied: '0-1-31', cluster: cluster(state()) }, refusals: ['target'] },
    { name: 'the --target-gtid applied (a time or GTID restore), short of the durable position', facts: { server: 's', applied: '0-1-25', targetGtid: '0-1-25', cluster: cluster(state()) }, refusals: [] },
    { name: 'a server short of the --target-gtid', facts: { server: 's', applied: '0-1-24', targetGtid: '0-1-25', cluster: cluster(state()) }, refusals: ['target'] },
    { name: 'an epoch that began already (no claim since)', facts: { server: 's', applied: '0-1-30', cluster: cluster(state({ startPending: undefined, start: { file: 'b.000001', pos: 4, gtid: '' } })) }, refusals: ['epoch'] },
    { name: 'an epoch claimed for another server', facts: { server: 's', applied: '0-1-30', cluster: cluster(state({ primary: { host: '127.0.0.1', port: 3308 } })) }, refusals: ['epoch'] },
    { name: 'an epoch claimed without naming a server', facts: { server: 's', applied: '0-1-30', cluster: cluster(state({ primary: undefined })) }, refusals: ['epoch'] },
    { name: 'a cluster without state', facts: { server: 's', applied: '0-1-30', cluster: cluster(undefined) }, refusals: ['epoch'] },
    { name: 'no cluster configuration', facts: { server: 's', applied: '0-1-30' }, refusals: ['no-cluster'] },
    { name: 'every reason at once', facts: { server: 's', applied: '0-1-2', cluster: cluster(state({ primary: { host: 'x', port: 1 } })) }, refusals: ['target', 'epoch'] },
  ];
  for (const row of rows) it(`refusals for ${row.name}: ${row.refusals.join(', ') || 'none'}`, () => assert.deepEqual(kinds(row.facts), row.refusals));

  it('names the differing domain and the server the epoch was claimed for, and the fix', () => {
    const [target, epoch] = checkPromote({ server: 's', applied: '0-1-28', cluster: cluster(state({ primary: { instanceId: 'i-b', host: '10.0.0.2', port: 3306 } })) });
    assert.match(target!.reason, /domain 0: server at 0-1-28, target 0-1-30 \(behind\)/);
    assert.match(epoch!.reason, /claimed for i-b \(10\.0\.0\.2:3306\), not for this server \(127\.0\.0\.1:3307\)/);
    assert.match(epoch!.fix, /squirrel claim --host 127\.0\.0\.1 --port 3307 --from 2/);
  });
});

/**
 * GIVEN epoch 1 streamed from primary A: rows 1..30 durable, a base backup after row 20, the GTID
 * position after row 25 recorded; A's agent stopped (its lease released).
 */
async function epochOne(t: TestContext, name: string) {
  const a = await withMariaDb(t);
  const stack = await withLocalStack(t);
  const config = agentConfig(a, stack, name);
  const writer = await SequenceWriter.open(t, a);
  const agent = startAgent(t, config);
  await writer.write(20);
  await waitCaughtUp(a, agent.repo);
  await backup(config, agent.repo);
  await writer.write(5);
  const [mid] = await a.query<{ g: string }[]>('SELECT @@gtid_binlog_pos AS g');
  await writer.write(5);
  await waitCaughtUp(a, agent.repo);
  await agent.stop();
  const env = { ...stack.env, SQUIRREL_CLUSTER_ID: config.clusterId };
  return { a, stack, config, env, repo: agent.repo, mid: mid!.g };
}

const identityOf = (s: MariaDbServer) => ({ host: '127.0.0.1', port: s.port });

/** What promote must leave alone when it refuses: the server's binlog, read_only, and the state item. */
async function snapshot(server: MariaDbServer, repo: ClusterStateRepo) {
  const [status] = await server.query<{ File: string; Position: number }[]>('SHOW MASTER STATUS');
  const [vars] = await server.query<{ ro: number; strict: number }[]>('SELECT @@global.read_only AS ro, @@global.gtid_strict_mode AS strict');
  const s = (await repo.read())!;
  return { file: status!.File, pos: status!.Position, ...vars!, epoch: s.epoch, startPending: !!s.startPending, start: s.start };
}

describe('promote checks before it opens writes', () => {
  it('a restore to latest from a backup at the durable end (nothing to replay) holds the backup\'s position, not the stale replica position its source kept, and promotes', async (t) => {
    // GIVEN a primary that was once itself restored: mysql.gtid_slave_pos holds its restore's old position
    const a = await withMariaDb(t);
    const stack = await withLocalStack(t);
    const config = agentConfig(a, stack, 'promote-nothing-to-replay');
    const writer = await SequenceWriter.open(t, a);
    await writer.write(3);
    const [early] = await a.query<{ g: string }[]>('SELECT @@gtid_binlog_pos AS g');
    await a.query(`SET GLOBAL gtid_slave_pos = '${early!.g}'`);
    const agent = startAgent(t, config);
    await writer.write(10);
    await waitCaughtUp(a, agent.repo);
    // AND the newest base backup is at the durable end: no chunk after it
    await backup(config, agent.repo);
    await waitCaughtUp(a, agent.repo);
    await agent.stop();
    const durable = (await agent.repo.read())!.durable!.gtid;

    // WHEN restored to latest and promoted under the next epoch, claimed for it
    const restored = await restoreForTest(t, config, parseTarget('latest'));
    const r = restored.server!;
    assert.equal(restored.transactions, 0);
    const [pos] = await r.query<{ slave: string; binlog: string }[]>('SELECT @@global.gtid_slave_pos AS slave, @@global.gtid_binlog_pos AS binlog');
    assert.deepEqual([pos!.slave, pos!.binlog], [durable, durable]);
    await agent.repo.claimNextEpoch(1, undefined, Date.now(), { primary: identityOf(r) });
    const steps = await promote(r.url, { cluster: { repo: agent.repo, identity: identityOf(r) } });
    assert.ok(steps.some((s) => s.timeline), 'promoted and recorded the epoch start');
    assert.deepEqual(await numbersIn(r), range(1, 13));
  });

  it('refuses a server behind the target, an epoch not claimed, and one claimed for another server, changing nothing; promotes once the epoch is claimed for it with --target-gtid at the restore\'s position', async (t) => {
    const c = await epochOne(t, 'promote-refusals');
    // a restore to a GTID before the durable position: rows 1..25
    const restored = await restoreForTest(t, c.config, parseTarget(`gtid:${c.mid}`));
    const r = restored.server!;
    assert.deepEqual(await numbersIn(r), range(1, 25));
    const cluster = { repo: c.repo, identity: identityOf(r) };
    const before = await snapshot(r, c.repo);

    // WHEN no epoch is claimed: refused for both reasons, nothing changed
    await assert.rejects(promote(r.url, { cluster }), (e: unknown) => {
      assert.ok(e instanceof PromoteRefusedError, String(e));
      assert.equal(e.reasons.length, 2, e.message);
      assert.match(e.message, /has not applied exactly the durable position of cluster promote-refusals .*domain 0: server at 0-\d+-\d+, target 0-\d+-\d+ \(behind\)/);
      assert.match(e.message, /no epoch of cluster promote-refusals is claimed for 127\.0\.0\.1:\d+: epoch 1 began already/);
      assert.match(e.hint ?? '', /squirrel claim --host 127\.0\.0\.1 --port \d+/);
      return true;
    });
    assert.deepEqual(await snapshot(r, c.repo), before);

    // WHEN epoch 2 is claimed for another server: refused, naming it
    await c.repo.claimNextEpoch(1, undefined, Date.now(), { primary: { host: '127.0.0.1', port: r.port + 1 } });
    const claimedForOther = await snapshot(r, c.repo);
    await assert.rejects(promote(r.url, { cluster }), (e: unknown) => e instanceof PromoteRefusedError && new RegExp(`epoch 2 of cluster promote-refusals is claimed for 127\\.0\\.0\\.1:${r.port + 1}, not for this server \\(127\\.0\\.0\\.1:${r.port}\\)`).test(e.message));
    assert.deepEqual(await snapshot(r, c.repo), claimedForOther);

    // WHEN epoch 3 is claimed for this server but it is behind the durable position: refused for that alone
    await c.repo.claimNextEpoch(2, undefined, Date.now(), { primary: identityOf(r) });
    const claimed = await snapshot(r, c.repo);
    await assert.rejects(promote(r.url, { cluster }), (e: unknown) => e instanceof PromoteRefusedError && e.reasons.length === 1 && /behind/.test(e.message));
    // AND a --target-gtid the server has not reached is refused too
    await assert.rejects(promote(r.url, { cluster, targetGtid: c.mid.replace(/-(\d+)$/, (_m, n: string) => `-${Number(n) + 1}`) }), (e: unknown) => e instanceof PromoteRefusedError && /--target-gtid .*behind/.test(e.message));
    assert.deepEqual(await snapshot(r, c.repo), claimed);

    // THEN with --target-gtid at the position the restore reached, it promotes and records epoch 3's start
    assert.equal(restored.gtidPosition, c.mid);
    const steps = await promote(r.url, { cluster, targetGtid: restored.gtidPosition });
    const timeline = steps.find((s) => s.timeline)?.timeline;
    const [status] = await r.query<{ File: string }[]>('SHOW MASTER STATUS');
    assert.deepEqual(timeline, { epoch: 3, start: { file: status!.File, pos: 4, gtid: c.mid } });
    const state = (await c.repo.read())!;
    assert.deepEqual([state.epoch, state.startPending, state.start], [3, undefined, timeline!.start]);
    const [vars] = await r.query<{ ro: number }[]>('SELECT @@global.read_only AS ro');
    assert.equal(vars!.ro, 0);
  });

  it('with --force promotes despite a refusal, warning loudly, and records no start for an epoch not claimed for the server', async (t) => {
    const c = await epochOne(t, 'promote-force');
    const r = (await restoreForTest(t, c.config, parseTarget('latest'))).server!;
    const url = r.url;
    // WHEN promoted by the CLI with no epoch claimed: refused, exit 1, nothing changed
    const refused = await runCli(['promote', '--url', url], { env: c.env });
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /promote refused for root@127\.0\.0\.1:\d+: no epoch of cluster promote-force is claimed/);
    assert.match(refused.stderr, /hint: Claim the next epoch for this server first/);
    // AND with no cluster configuration at all: refused
    const noCluster = await runCli(['promote', '--url', url], { env: {} });
    assert.equal(noCluster.code, 1, noCluster.stderr);
    assert.match(noCluster.stderr, /no cluster configuration/);

    // WHEN forced
    const forced = await runCli(['promote', '--url', url, '--force', '--json'], { env: c.env });
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stderr, /WARNING: --force: promoting root@127\.0\.0\.1:\d+ although no epoch of cluster promote-force is claimed/);
    assert.match(forced.stderr, /its agent cannot join until an epoch is claimed for it/);
    const result = JSON.parse(forced.stdout) as { steps: { action: string }[]; epoch?: number };
    assert.equal(result.epoch, undefined);
    // THEN the server takes writes, and the cluster is untouched: epoch 1, no start recorded
    await r.query('INSERT INTO app.seq (n, pad, at) VALUES (1000, \'forced\', 0)');
    const state = (await c.repo.read())!;
    assert.deepEqual([state.epoch, state.startPending, state.durableSeq], [1, undefined, (await c.repo.read())!.durableSeq]);
    assert.equal(state.primary?.port, c.a.port);
  });

  it('claim, restore latest, promote: the new server\'s agent, waiting meanwhile, joins the claimed epoch and streams', async (t) => {
    const c = await epochOne(t, 'promote-happy');
    // the replacement's address is known before it exists (an instance's private address and port)
    const endpoint = await TcpForwarder.start({ host: '127.0.0.1', port: 1 });
    t.after(() => endpoint.stop());

    // WHEN epoch 2 is claimed for it (the old primary is fenced; its start is pending)
    const claim = await runCli(['claim', '--host', '127.0.0.1', '--port', String(endpoint.port)], { env: c.env });
    assert.equal(claim.code, 0, claim.stderr);
    assert.match(claim.stdout, new RegExp(`claimed epoch 2 of cluster promote-happy for 127\\.0\\.0\\.1:${endpoint.port}; epoch 1 is fenced`));
    const claimed = (await c.repo.read())!;
    assert.deepEqual([claimed.epoch, claimed.startPending], [2, true]);

    // AND the replacement restores to latest (across the pending epoch) and is promoted
    const r = (await restoreForTest(t, c.config, parseTarget('latest'))).server!;
    assert.deepEqual(await numbersIn(r), range(1, 30));
    endpoint.retarget({ host: '127.0.0.1', port: r.port });
    const url = r.url.replace(/:\d+$/, `:${endpoint.port}`);
    // AND its agent is already running (started with the instance): it may not take the pending epoch
    const agentB = startAgent(t, { ...c.config, mysqlUrl: url, agentId: 'new-primary' });
    await sleep(1500);
    assert.deepEqual([(await c.repo.read())!.leaseHolder, (await c.repo.read())!.startPending], ['', true]);
    const promoted = await runCli(['promote', '--url', url], { env: c.env });
    assert.equal(promoted.code, 0, promoted.stderr);
    assert.match(promoted.stdout, /epoch 2 of cluster promote-happy begins at mariadb-bin\.\d+:4/);
    assert.match(promoted.stdout, /next: start `squirrel agent` .* it joins epoch 2/);
    const started = (await c.repo.read())!;
    assert.equal(started.startPending, undefined);

    // THEN its agent joins epoch 2 and makes the new writes durable in it
    for (let n = 101; n <= 110; n++) await r.query('INSERT INTO app.seq (n, pad, at) VALUES (?, ?, ?)', [n, `row ${n} `, Date.now()]);
    await waitCaughtUp(r, agentB.repo);
    await agentB.stop();
    const state = (await c.repo.read())!;
    assert.deepEqual([state.epoch, state.durable?.epoch, state.leaseHolder], [2, 2, '']);
    assert.ok(state.durableSeq > 0);
    const report = await verifyCluster(objectStoreFor(c.config), openStateStore(c.config), '', state);
    assert.deepEqual(report.problems, []);
    // AND a restore to latest holds both epochs' rows
    const again = (await restoreForTest(t, c.config, parseTarget('latest'))).server!;
    assert.deepEqual(await numbersIn(again), [...range(1, 30), ...range(101, 110)]);
  });
});
