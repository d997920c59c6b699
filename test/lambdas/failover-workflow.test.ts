/**
 * The failover and restore workflows as synthesized (infra/), run by the local runner against
 * DynamoDB Local with the real ClusterStateRepo, and recording Compute/Endpoint/Notifier.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ClusterStateRepo } from '../../agent/cluster/repo.js';
import { failoverExecutionName } from '../../agent/control/execution-name.js';
import { LocalWorkflows } from '../../agent/control/local-workflows.js';
import { dynamoClientFor, startDynamoDbLocal, type DynamoDbLocal } from '../../agent/local/dynamodb.js';
import { createTable } from '../../agent/local/stack.js';
import type { StateStore } from '../../agent/ports/state-store.js';
import { DynamoStateStore } from '../../agent/store/dynamo-state-store.js';
import { synthesizeControlPlane, type Template } from '../../infra/synth.js';
import { ec2StateChange } from '../../lambdas/ec2-state-change.js';
import { heartbeatCheck } from '../../lambdas/heartbeat-check.js';
import { clusterAtEpoch1, oldPrimary, promoteOnLaunch, recordingPorts } from './control-fixture.js';

describe('failover workflow (synthesized definition, local runner, DynamoDB Local)', () => {
  let dynamo: DynamoDbLocal;
  let store: StateStore;
  let template: Template;

  before(async () => {
    dynamo = await startDynamoDbLocal({ inMemory: true });
    const client = dynamoClientFor(dynamo.endpoint);
    await createTable(client, 'squirrel');
    store = new DynamoStateStore(client, 'squirrel');
    template = synthesizeControlPlane();
  });
  after(async () => {
    await dynamo?.stop();
  });

  const cluster = () => `c-${randomUUID().slice(0, 8)}`;

  it('claims with the handover, stops the old instance with force, launches, moves the endpoint only after promotion, and notifies', async () => {
    // GIVEN a cluster whose primary's instance has stopped (its lease may still look live)
    const id = cluster();
    await clusterAtEpoch1(store, id, 60_000);
    const p = recordingPorts(store, { instances: { 'i-old': 'stopped' }, onLaunch: promoteOnLaunch(store) });
    const wf = new LocalWorkflows({ template, ports: p.ports, waitMs: 20, retryIntervalMs: 20 });
    // WHEN detection starts the failover
    const name = failoverExecutionName(id, 1);
    assert.deepEqual(await wf.start('failover', name, { clusterId: id, epoch: 1, reason: 'test' }), { status: 'started', executionId: name });
    const outcome = await wf.outcome(name);
    // THEN
    assert.equal(outcome.status, 'SUCCEEDED', JSON.stringify(outcome));
    const state = (await new ClusterStateRepo(store, id).readHistory())!.state;
    assert.equal(state.epoch, 2);
    assert.equal(state.status, 'HEALTHY');
    assert.equal(state.claimToken, name, 'the claim is recognisable by the execution name');
    assert.deepEqual(state.handovers?.find((h) => h.epoch === 1)?.durable?.key, 'k1', 'the handover is epoch 1 durable position');
    const launched = p.calls.find((c) => c.port === 'compute' && c.op === 'launch');
    assert.ok(launched && launched.op === 'launch');
    assert.deepEqual(state.primary, launched.request.reservation.identity, 'the epoch was claimed for the replacement');
    assert.deepEqual(launched.request.job, { kind: 'restore-and-promote', target: 'latest' });
    const order = p.calls.map((c) => `${c.port}.${c.op}`);
    assert.deepEqual(order, ['compute.reserve', 'compute.stop', 'compute.launch', 'endpoint.point', 'notifier.publish']);
    assert.deepEqual(p.calls[1], { port: 'compute', op: 'stop', instanceId: 'i-old', force: true });
    assert.deepEqual(await p.endpoint.current(id), { host: state.primary!.host, port: state.primary!.port });
    assert.match(p.notifier.published[0]!.subject, /failover done/);
  });

  it('waits out a live lease before claiming (bounded retries), then fails over', async () => {
    // GIVEN a primary whose instance still runs and whose lease is live for another second
    const id = cluster();
    const p = recordingPorts(store, { instances: { 'i-old': 'running' }, onLaunch: promoteOnLaunch(store) });
    const wf = new LocalWorkflows({ template, ports: p.ports, waitMs: 20, retryIntervalMs: 250 });
    const leaseMs = 1_500;
    const claimedAfter = Date.now() + leaseMs;
    await clusterAtEpoch1(store, id, leaseMs);
    const name = failoverExecutionName(id, 1);
    await wf.start('failover', name, { clusterId: id, epoch: 1, reason: 'test' });
    const outcome = await wf.outcome(name);
    assert.equal(outcome.status, 'SUCCEEDED', JSON.stringify(outcome));
    const state = await new ClusterStateRepo(store, id).read();
    assert.equal(state?.epoch, 2);
    // the claim landed after the lease's expiry plus the margin, not before: the launch came after it
    const reserves = p.calls.filter((c) => c.op === 'reserve').length;
    assert.ok(reserves >= 3, `the claim was refused and retried while the lease was live (${reserves} attempts)`);
    assert.ok(Date.now() >= claimedAfter + p.ports.settings.leaseMarginMs);
    assert.deepEqual(p.calls.find((c) => c.op === 'stop'), { port: 'compute', op: 'stop', instanceId: 'i-old', force: true });
  });

  it('gives up on a lease that stays live: nothing claimed, nothing launched, FAILED execution and a notification', async () => {
    const id = cluster();
    await clusterAtEpoch1(store, id, 3_600_000);
    const p = recordingPorts(store, { instances: { 'i-old': 'running' } });
    const wf = new LocalWorkflows({ template, ports: p.ports, waitMs: 5, retryIntervalMs: 5 });
    const name = failoverExecutionName(id, 1);
    await wf.start('failover', name, { clusterId: id, epoch: 1, reason: 'test' });
    const outcome = await wf.outcome(name);
    assert.equal(outcome.status, 'FAILED');
    const state = await new ClusterStateRepo(store, id).read();
    assert.deepEqual([state?.epoch, state?.status], [1, 'HEALTHY'], 'a workflow that claimed nothing changes nothing');
    assert.equal(p.calls.filter((c) => c.op === 'reserve').length, 13, 'ClaimNextEpoch tried once and retried 12 times');
    assert.ok(!p.calls.some((c) => c.op === 'launch' || c.op === 'point'));
    assert.match(p.notifier.published[0]!.message, /LeaseLiveError/);
  });

  it('a launch that fails ends FAILED with the reason, the endpoint not moved, and a notification', async () => {
    const id = cluster();
    await clusterAtEpoch1(store, id, 60_000);
    const p = recordingPorts(store, {
      instances: { 'i-old': 'terminated' },
      onLaunch: () => {
        throw new Error('InsufficientInstanceCapacity: no capacity in the zone');
      },
    });
    const wf = new LocalWorkflows({ template, ports: p.ports, waitMs: 5, retryIntervalMs: 5 });
    const name = failoverExecutionName(id, 1);
    await wf.start('failover', name, { clusterId: id, epoch: 1, reason: 'test' });
    const outcome = await wf.outcome(name);
    assert.deepEqual(outcome, { status: 'FAILED', error: 'FailoverFailed', cause: 'a step failed; MarkFailed and NotifyFailure have the reason' });
    const state = await new ClusterStateRepo(store, id).read();
    assert.deepEqual([state?.epoch, state?.status], [2, 'FAILED']);
    assert.ok(!p.calls.some((c) => c.port === 'endpoint'), 'the endpoint was not touched');
    const note = p.notifier.published;
    assert.equal(note.length, 1);
    assert.match(note[0]!.subject, /failover FAILED/);
    assert.match(note[0]!.message, /InsufficientInstanceCapacity/);
    assert.match(note[0]!.message, /endpoint was not moved/);
  });

  it('a replacement that never promotes ends FAILED after the bounded polls, the endpoint not moved', async () => {
    const id = cluster();
    await clusterAtEpoch1(store, id, 60_000);
    const p = recordingPorts(store, { instances: { 'i-old': 'stopped' } }, { maxPromotionPolls: 3 });
    const wf = new LocalWorkflows({ template, ports: p.ports, waitMs: 5, retryIntervalMs: 5 });
    const name = failoverExecutionName(id, 1);
    await wf.start('failover', name, { clusterId: id, epoch: 1, reason: 'test' });
    assert.equal((await wf.outcome(name)).status, 'FAILED');
    assert.equal((await new ClusterStateRepo(store, id).read())?.status, 'FAILED');
    assert.ok(!p.calls.some((c) => c.port === 'endpoint'));
    assert.match(p.notifier.published[0]!.message, /PromotionFailedError.*after 3 polls/);
  });

  it('two detections of one death (the EC2 event and the heartbeat check) start one execution', async () => {
    const id = cluster();
    await clusterAtEpoch1(store, id, 60_000, Date.now() - 120_000);
    const p = recordingPorts(store, { instances: { 'i-old': 'terminated' }, onLaunch: promoteOnLaunch(store, { delayMs: 200 }) });
    const wf = new LocalWorkflows({ template, ports: p.ports, waitMs: 20, retryIntervalMs: 20 });
    const event = { 'detail-type': 'EC2 Instance State-change Notification', source: 'aws.ec2', detail: { 'instance-id': oldPrimary.instanceId, state: 'terminated' } };
    const [a, b] = await Promise.all([ec2StateChange(wf.controlPlane, id)(event), heartbeatCheck(wf.controlPlane, id)({})]);
    const c = await ec2StateChange(wf.controlPlane, id)(event);
    assert.deepEqual(
      [a, b, c].map((r) => (r.action === 'failover' ? r.status : r.action)).sort(),
      // the third sees the cluster FAILING_OVER already, or the name taken
      c.action === 'failover' ? ['already-running', 'already-running', 'started'] : ['already-running', 'ignore', 'started'],
    );
    assert.deepEqual(wf.executionNames, [failoverExecutionName(id, 1)]);
    assert.equal((await wf.outcome(failoverExecutionName(id, 1))).status, 'SUCCEEDED');
    assert.equal(p.calls.filter((x) => x.op === 'launch').length, 1);
  });

  it('restore new-instance launches a restore-only instance beside the primary and reports its address', async () => {
    const id = cluster();
    await clusterAtEpoch1(store, id, 60_000);
    const p = recordingPorts(store, { instances: { 'i-old': 'running' } });
    const wf = new LocalWorkflows({ template, ports: p.ports, waitMs: 5, retryIntervalMs: 5 });
    await wf.start('restore', 'restore-1', { clusterId: id, target: { gtid: '0-1-5' }, mode: 'new-instance' });
    assert.equal((await wf.outcome('restore-1')).status, 'SUCCEEDED');
    assert.deepEqual(p.calls.map((c) => `${c.port}.${c.op}`), ['compute.reserve', 'compute.launch', 'notifier.publish']);
    const launch = p.calls[1]!;
    assert.ok(launch.op === 'launch');
    assert.deepEqual(launch.request.job, { kind: 'restore-only', target: { gtid: '0-1-5' } });
    assert.match(p.notifier.published[0]!.message, new RegExp(`replacement: i-local-1 at 127\\.0\\.0\\.1:${launch.request.reservation.identity.port}`));
    const state = await new ClusterStateRepo(store, id).read();
    assert.deepEqual([state?.epoch, state?.status], [1, 'HEALTHY'], 'the primary was left alone');
  });

  it('restore replace-primary claims (RESTORING), fences, restores to the target, promotes and moves the endpoint', async () => {
    const id = cluster();
    await clusterAtEpoch1(store, id, 60_000);
    const p = recordingPorts(store, { instances: { 'i-old': 'stopped' }, onLaunch: promoteOnLaunch(store) });
    const wf = new LocalWorkflows({ template, ports: p.ports, waitMs: 20, retryIntervalMs: 20 });
    const target = { time: '2026-11-30T12:00:00Z' };
    await wf.start('restore', 'restore-2', { clusterId: id, target, mode: 'replace-primary' });
    const outcome = await wf.outcome('restore-2');
    assert.equal(outcome.status, 'SUCCEEDED', JSON.stringify(outcome));
    assert.deepEqual(p.calls.map((c) => `${c.port}.${c.op}`), ['compute.reserve', 'compute.stop', 'compute.launch', 'endpoint.point', 'notifier.publish']);
    const launch = p.calls[2]!;
    assert.ok(launch.op === 'launch');
    assert.deepEqual(launch.request.job, { kind: 'restore-and-promote', target });
    const state = await new ClusterStateRepo(store, id).read();
    assert.deepEqual([state?.epoch, state?.status, state?.claimToken], [2, 'HEALTHY', 'restore-2']);
  });
});
