import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { ClusterStateRepo, type DurablePosition } from '../../../agent/cluster/repo.js';
import { localAgentConfig } from '../../../agent/local/catch-up.js';
import { openStateStore } from '../../../agent/wiring.js';
import { runCli } from '../../harness/cli.js';
import { withLocalStack } from '../../harness/stack.js';

const start = { file: 'mariadb-bin.000001', pos: 4, gtid: '' };
const pos = (seq: number): DurablePosition => ({ epoch: 1, seq, file: 'mariadb-bin.000001', end: 100 * seq, gtid: `0-1-${seq}`, key: `k${seq}`, at: new Date().toISOString() });

/** A cluster at epoch 1, durable at seq 2, its agent's lease live for `leaseMs` from now (released when 0). */
async function cluster(t: TestContext, clusterId: string, leaseMs: number) {
  const stack = await withLocalStack(t);
  // (it also puts the stand-ins' AWS_* credentials into this process's environment)
  const config = localAgentConfig(stack, 'mysql://root@127.0.0.1:3306', clusterId);
  const repo = new ClusterStateRepo(openStateStore(config), clusterId);
  await repo.claimFirstEpoch(start, 'old-agent', Date.now(), Math.max(leaseMs, 1), { primary: { host: '10.0.0.1', port: 3306 } });
  await repo.advance('old-agent', pos(1));
  await repo.advance('old-agent', pos(2));
  if (leaseMs === 0) await repo.releaseLease(1, 'old-agent');
  return { repo, env: { ...stack.env, SQUIRREL_CLUSTER_ID: clusterId } };
}

describe('squirrel claim', () => {
  it('claims the next epoch for the named server at once when the lease was released: pending, with the handover, and says what comes next', async (t) => {
    const c = await cluster(t, 'claim-released', 0);
    const r = await runCli(['claim', '--host', '10.0.0.2', '--port', '3307', '--instance-id', 'i-b'], { env: c.env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /claimed epoch 2 of cluster claim-released for i-b \(10\.0\.0\.2:3307\); epoch 1 is fenced/);
    assert.match(r.stdout, /handover: epoch 1 ends at seq 2, mariadb-bin\.000001:200, GTID 0-1-2 \(k2\)/);
    assert.match(r.stdout, /next: restore onto i-b \(10\.0\.0\.2:3307\) .*then run `squirrel promote` there/);
    const s = (await c.repo.read())!;
    assert.deepEqual([s.epoch, s.startPending, s.primary, s.start, s.durable?.seq], [2, true, { instanceId: 'i-b', host: '10.0.0.2', port: 3307 }, { file: '', pos: 0, gtid: '0-1-2' }, 2]);
  });

  it('refuses while the old agent\'s lease is live, changing nothing, and exits non-zero', async (t) => {
    const c = await cluster(t, 'claim-live', 60_000);
    const r = await runCli(['claim', '--host', '10.0.0.2', '--port', '3306'], { env: c.env });
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /cluster claim-live: the lease of old-agent is live until .*; a claim waits until 5000 ms after that/);
    assert.match(r.stderr, /hint: An agent that cannot renew its lease fences its own server/);
    assert.equal((await c.repo.read())!.epoch, 1);
  });

  it('with --force claims at once despite a live lease, warning loudly', async (t) => {
    const c = await cluster(t, 'claim-force', 60_000);
    const r = await runCli(['claim', '--host', '10.0.0.2', '--port', '3306', '--force', '--json'], { env: c.env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /WARNING: --force: claiming epoch 2 without waiting out the lease of old-agent \(live until .*\): the old primary must be known stopped/);
    const out = JSON.parse(r.stdout) as { epoch: number; from: number; startPending: boolean; forced: boolean; handover: { epoch: number; durable: DurablePosition } };
    assert.deepEqual([out.epoch, out.from, out.startPending, out.forced, out.handover.epoch, out.handover.durable.seq], [2, 1, true, true, 1, 2]);
    assert.equal((await c.repo.read())!.epoch, 2);
  });

  it('with --wait waits out the lease and its margin, then claims', async (t) => {
    const c = await cluster(t, 'claim-wait', 1000);
    const expiresAt = (await c.repo.read())!.leaseExpiresAt;
    const r = await runCli(['claim', '--host', '10.0.0.2', '--port', '3306', '--wait'], { env: c.env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /waiting: cluster claim-wait: the lease of old-agent is live/);
    const s = (await c.repo.read())!;
    assert.equal(s.epoch, 2);
    // the claim landed after the expiry plus the margin (5 s), not before
    assert.ok(Date.parse(s.handovers![0]!.at) > expiresAt + 5000, `claimed at ${s.handovers![0]!.at}, the lease expired at ${new Date(expiresAt).toISOString()}`);
  });

  it('refuses a claim from an epoch that is not the current one, and bad options', async (t) => {
    const c = await cluster(t, 'claim-stale', 0);
    assert.equal((await runCli(['claim', '--host', 'h', '--port', '3306'], { env: c.env })).code, 0);
    const stale = await runCli(['claim', '--host', 'h', '--port', '3306', '--from', '1'], { env: c.env });
    assert.equal(stale.code, 1);
    assert.match(stale.stderr, /claim epoch 2: the cluster is at epoch 2, not 1/);
    const badPort = await runCli(['claim', '--host', 'h', '--port', 'x'], { env: c.env });
    assert.equal(badPort.code, 2);
    assert.match(badPort.stderr, /--port must be a TCP port/);
    const noHost = await runCli(['claim', '--port', '3306'], { env: c.env });
    assert.equal(noHost.code, 2);
  });
});
