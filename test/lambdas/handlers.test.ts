/** The detection handlers and MarkFailed, on the memory store (the workflows run them on DynamoDB Local). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClusterStateRepo } from '../../agent/cluster/repo.js';
import { EpochMovedError, TaskInputError } from '../../agent/control/errors.js';
import { ConfigError } from '../../agent/errors.js';
import { MemoryStateStore } from '../../agent/store/memory-state-store.js';
import { awsControlPlane } from '../../lambdas/aws-wiring.js';
import { claimEpoch } from '../../lambdas/claim-epoch.js';
import { fenceOld } from '../../lambdas/fence-old.js';
import { ec2StateChange } from '../../lambdas/ec2-state-change.js';
import { heartbeatCheck } from '../../lambdas/heartbeat-check.js';
import { markFailed } from '../../lambdas/mark-failed.js';
import { clusterAtEpoch1, oldPrimary, RecordingStarter, recordingPorts } from './control-fixture.js';

const event = (instanceId: string, state: string) => ({ 'detail-type': 'EC2 Instance State-change Notification', source: 'aws.ec2', detail: { 'instance-id': instanceId, state } });

describe('detection handlers', () => {
  it('the EC2 event of the primary starts the failover named after its epoch; another instance starts nothing', async () => {
    const store = new MemoryStateStore();
    await clusterAtEpoch1(store, 'shop', 60_000);
    const starter = new RecordingStarter();
    const cp = { ...recordingPorts(store, {}).ports, starter };
    assert.deepEqual(await ec2StateChange(cp, 'shop')(event('i-other', 'terminated')), { action: 'ignore', reason: 'i-other is not the primary of epoch 1 (i-old)' });
    assert.deepEqual(await ec2StateChange(cp, 'shop')(event(oldPrimary.instanceId!, 'stopped')), { action: 'failover', executionName: 'failover-shop-epoch-1', status: 'started' });
    assert.deepEqual(starter.started, [{ workflow: 'failover', name: 'failover-shop-epoch-1', input: { clusterId: 'shop', epoch: 1, reason: 'instance i-old is stopped' } }]);
  });

  it('an event that is not an EC2 state change is refused by name', async () => {
    const cp = { ...recordingPorts(new MemoryStateStore(), {}).ports, starter: new RecordingStarter() };
    await assert.rejects(ec2StateChange(cp, 'shop')({ detail: {} }), (e: unknown) => e instanceof TaskInputError && /detail\.instance-id/.test(e.message));
  });

  it('a stale heartbeat of a running instance marks the cluster SUSPECT and starts nothing', async () => {
    const store = new MemoryStateStore();
    await clusterAtEpoch1(store, 'shop', 600_000, Date.now() - 120_000);
    const starter = new RecordingStarter();
    const cp = { ...recordingPorts(store, { instances: { 'i-old': 'running' } }).ports, starter };
    const r = await heartbeatCheck(cp, 'shop')({});
    assert.equal(r.action, 'suspect');
    assert.equal((await new ClusterStateRepo(store, 'shop').read())?.status, 'SUSPECT');
    assert.deepEqual(starter.started, []);
  });

  it('a stale heartbeat of a stopped instance starts the failover', async () => {
    const store = new MemoryStateStore();
    await clusterAtEpoch1(store, 'shop', 60_000, Date.now() - 120_000);
    const starter = new RecordingStarter();
    const cp = { ...recordingPorts(store, { instances: { 'i-old': 'stopped' } }).ports, starter };
    assert.deepEqual(await heartbeatCheck(cp, 'shop')({}), { action: 'failover', executionName: 'failover-shop-epoch-1', status: 'started' });
  });
});

describe('MarkFailed', () => {
  it('leaves alone a cluster this execution did not claim', async () => {
    const store = new MemoryStateStore();
    await clusterAtEpoch1(store, 'shop', 60_000);
    const cp = { ...recordingPorts(store, {}).ports, starter: new RecordingStarter() };
    const r = await markFailed(cp)({ executionName: 'failover-shop-epoch-1', state: { clusterId: 'shop', epoch: 1, error: { Error: 'LeaseLiveError', Cause: 'live' } } });
    assert.equal(r.marked, false);
    assert.equal((await new ClusterStateRepo(store, 'shop').read())?.status, 'HEALTHY');
  });
});

describe('AWS wiring', () => {
  it('names every missing environment variable at once', () => {
    assert.throws(
      () => awsControlPlane({}),
      (e: unknown) =>
        e instanceof ConfigError &&
        JSON.stringify(e.problems.map((p) => p.key)) ===
          JSON.stringify(['SQUIRREL_TABLE', 'SQUIRREL_LAUNCH_TEMPLATE_ID', 'SQUIRREL_SUBNET_ID', 'SQUIRREL_SECURITY_GROUP_IDS', 'SQUIRREL_HOSTED_ZONE_ID', 'SQUIRREL_RECORD_DOMAIN', 'SQUIRREL_TOPIC_ARN']),
    );
  });
});

describe('ClaimNextEpoch', () => {
  for (const [name, input] of [
    ['failover', { clusterId: 'shop', epoch: 1, reason: 'test' }],
    ['restore (no epoch in its input)', { clusterId: 'shop', target: 'latest' as const, mode: 'replace-primary' as const }],
  ] as const) {
    it(`a retried ${name} claim recognises its own landed claim instead of claiming again`, async () => {
      const store = new MemoryStateStore();
      await clusterAtEpoch1(store, 'shop', 60_000);
      const cp = { ...recordingPorts(store, { instances: { 'i-old': 'stopped' } }).ports, starter: new RecordingStarter() };
      const event = { executionName: 'exec-1', state: input };
      const first = await claimEpoch(cp)(event);
      const again = await claimEpoch(cp)(event);
      assert.deepEqual([first.from, first.epoch, first.forced, first.oldInstanceId], [1, 2, true, 'i-old']);
      assert.deepEqual([again.from, again.epoch, again.replacement], [1, 2, first.replacement]);
      assert.equal((await new ClusterStateRepo(store, 'shop').read())?.epoch, 2);
    });
  }

  it('refuses when the cluster moved past the epoch to replace', async () => {
    const store = new MemoryStateStore();
    await clusterAtEpoch1(store, 'shop', 60_000);
    const cp = { ...recordingPorts(store, { instances: { 'i-old': 'stopped' } }).ports, starter: new RecordingStarter() };
    await claimEpoch(cp)({ executionName: 'exec-1', state: { clusterId: 'shop', epoch: 1 } });
    await assert.rejects(claimEpoch(cp)({ executionName: 'exec-2', state: { clusterId: 'shop', epoch: 1 } }), (e: unknown) => e instanceof EpochMovedError && e.found === 2);
  });
});

describe('FenceOldPrimary', () => {
  it('a forced stop that hangs is waited for, bounded, and reported; the workflow goes on', async () => {
    const p = recordingPorts(new MemoryStateStore(), { instances: { 'i-old': 'running' }, stopReaches: 'stopping' }, { fenceWaitMs: 50, fencePollMs: 5 });
    const cp = { ...p.ports, starter: new RecordingStarter() };
    const claim = { from: 1, epoch: 2, replacement: { id: 'r', identity: { host: '127.0.0.1', port: 1 } }, oldInstanceId: 'i-old', forced: false };
    const started = Date.now();
    const r = await fenceOld(cp)({ executionName: 'e', state: { clusterId: 'shop', epoch: 1, claim } });
    assert.equal(r.stopped, false);
    assert.match(r.detail, /still stopping after 50 ms; continuing/);
    assert.ok(Date.now() - started < 2_000);
    assert.deepEqual(p.calls, [{ port: 'compute', op: 'stop', instanceId: 'i-old', force: true }]);
  });

  it('a stop that lands is reported stopped', async () => {
    const p = recordingPorts(new MemoryStateStore(), { instances: { 'i-old': 'running' } });
    const claim = { from: 1, epoch: 2, replacement: { id: 'r', identity: { host: '127.0.0.1', port: 1 } }, oldInstanceId: 'i-old', forced: false };
    assert.deepEqual(await fenceOld({ ...p.ports, starter: new RecordingStarter() })({ executionName: 'e', state: { clusterId: 'shop', claim } }), { stopped: true, detail: 'instance i-old is stopped' });
  });
});
