import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ClusterState } from '../../../agent/cluster/state.js';
import { onHeartbeatCheck, onInstanceStateChange, type Detection } from '../../../agent/control/detect.js';
import { failoverExecutionName } from '../../../agent/control/execution-name.js';
import type { InstanceState } from '../../../agent/ports/compute.js';

const now = Date.parse('2026-11-30T12:00:00Z');
const state = (over: Partial<ClusterState> = {}): ClusterState => ({
  clusterId: 'shop',
  epoch: 4,
  status: 'HEALTHY',
  durable: null,
  durableSeq: 0,
  start: { file: 'b.000001', pos: 4, gtid: '' },
  primary: { instanceId: 'i-prim', host: '10.0.0.1', port: 3306 },
  leaseHolder: 'agent',
  leaseToken: 't',
  leaseExpiresAt: now + 10_000,
  heartbeatAt: new Date(now - 1_000).toISOString(),
  server: null,
  ...over,
});
const kind = (d: Detection) => (d.action === 'failover' ? `failover ${d.executionName}` : d.action);

describe('detection from an EC2 state-change event', () => {
  const cases: [string, ClusterState | undefined, { instanceId: string; state: string }, string][] = [
    ['the primary terminated: failover named after its epoch', state(), { instanceId: 'i-prim', state: 'terminated' }, 'failover failover-shop-epoch-4'],
    ['the primary stopping', state(), { instanceId: 'i-prim', state: 'stopping' }, 'failover failover-shop-epoch-4'],
    ['the primary shutting down', state(), { instanceId: 'i-prim', state: 'shutting-down' }, 'failover failover-shop-epoch-4'],
    ['the primary stopped while SUSPECT', state({ status: 'SUSPECT' }), { instanceId: 'i-prim', state: 'stopped' }, 'failover failover-shop-epoch-4'],
    ['another instance (not the primary)', state(), { instanceId: 'i-other', state: 'terminated' }, 'ignore'],
    ['the primary of an older epoch: the epoch moved', state({ epoch: 5, primary: { instanceId: 'i-new', host: '10.0.0.2', port: 3306 } }), { instanceId: 'i-prim', state: 'terminated' }, 'ignore'],
    ['already failing over', state({ status: 'FAILING_OVER' }), { instanceId: 'i-prim', state: 'terminated' }, 'ignore'],
    ['restoring', state({ status: 'RESTORING' }), { instanceId: 'i-prim', state: 'terminated' }, 'ignore'],
    ['FAILED: a person decides', state({ status: 'FAILED' }), { instanceId: 'i-prim', state: 'terminated' }, 'ignore'],
    ['the epoch is claimed and not promoted yet', state({ startPending: true }), { instanceId: 'i-prim', state: 'terminated' }, 'ignore'],
    ['running is no death', state(), { instanceId: 'i-prim', state: 'running' }, 'ignore'],
    ['no cluster', undefined, { instanceId: 'i-prim', state: 'terminated' }, 'ignore'],
  ];
  for (const [name, s, event, want] of cases) {
    it(name, () => assert.equal(kind(onInstanceStateChange(s, event)), want));
  }

  it('carries the failover input of DESIGN.md: clusterId, the epoch it replaces, the reason', () => {
    const d = onInstanceStateChange(state(), { instanceId: 'i-prim', state: 'terminated' });
    assert.deepEqual(d, { action: 'failover', executionName: 'failover-shop-epoch-4', input: { clusterId: 'shop', epoch: 4, reason: 'instance i-prim is terminated' } });
  });
});

describe('detection from the heartbeat check', () => {
  const stale = { heartbeatAt: new Date(now - 120_000).toISOString() };
  const check = (instance: InstanceState | undefined) => ({ nowMs: now, staleAfterMs: 60_000, leaseMarginMs: 5_000, instance });
  const cases: [string, ClusterState | undefined, InstanceState | undefined, string][] = [
    ['a fresh heartbeat: nothing', state(), 'running', 'ignore'],
    ['a fresh heartbeat of a stopped instance: nothing yet (its EC2 event starts the failover)', state(), 'stopped', 'ignore'],
    ['stale and the instance stopped: failover', state(stale), 'stopped', 'failover failover-shop-epoch-4'],
    ['stale and the instance terminated: failover', state(stale), 'terminated', 'failover failover-shop-epoch-4'],
    ['stale and the instance unknown to EC2: failover', state(stale), 'missing', 'failover failover-shop-epoch-4'],
    ['stale, the instance running, the lease live: SUSPECT', state(stale), 'running', 'suspect'],
    ['stale, the instance running, already SUSPECT, the lease live: nothing', state({ ...stale, status: 'SUSPECT' }), 'running', 'ignore'],
    ['stale, the instance running, the lease expired within the margin: SUSPECT', state({ ...stale, leaseExpiresAt: now - 4_000 }), 'running', 'suspect'],
    ['stale, the instance running, the lease expired past the margin: failover', state({ ...stale, status: 'SUSPECT', leaseExpiresAt: now - 6_000 }), 'running', 'failover failover-shop-epoch-4'],
    ['stale, no instance named, the lease live: SUSPECT', state({ ...stale, primary: { host: '10.0.0.1', port: 3306 } }), undefined, 'suspect'],
    ['stale, the lease released: failover', state({ ...stale, leaseHolder: '' }), 'running', 'failover failover-shop-epoch-4'],
    ['never a heartbeat, the instance stopped: failover', state({ heartbeatAt: null }), 'stopped', 'failover failover-shop-epoch-4'],
    ['stale but failing over already', state({ ...stale, status: 'FAILING_OVER' }), 'stopped', 'ignore'],
    ['stale but the epoch is being promoted', state({ ...stale, startPending: true }), 'stopped', 'ignore'],
    ['no cluster', undefined, 'stopped', 'ignore'],
  ];
  for (const [name, s, instance, want] of cases) {
    it(name, () => assert.equal(kind(onHeartbeatCheck(s, check(instance))), want));
  }

  it('a suspect is marked from HEALTHY under its epoch', () => {
    assert.deepEqual(onHeartbeatCheck(state(stale), check('running')), { action: 'suspect', epoch: 4, from: 'HEALTHY', reason: 'heartbeat 120 s old, the instance is running: the lease decides' });
  });
});

describe('failover execution name', () => {
  const cases: [string, string, number, string][] = [
    ['clusterId and epoch', 'shop', 7, 'failover-shop-epoch-7'],
    ['characters Step Functions refuses become _', 'shop.eu/1', 7, 'failover-shop_eu_1-epoch-7'],
    ['a long id is cut, the epoch kept', 'x'.repeat(100), 123, `failover-${'x'.repeat(80 - 'failover-'.length - '-epoch-123'.length)}-epoch-123`],
  ];
  for (const [name, clusterId, epoch, want] of cases) {
    it(name, () => {
      const got = failoverExecutionName(clusterId, epoch);
      assert.equal(got, want);
      assert.ok(got.length <= 80 && /^[A-Za-z0-9_-]+$/.test(got));
    });
  }
});
