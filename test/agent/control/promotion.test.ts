import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ClusterState } from '../../../agent/cluster/state.js';
import { promotionProgress } from '../../../agent/control/promotion.js';
import type { InstanceState } from '../../../agent/ports/compute.js';

const replacement = { host: '10.0.0.9', port: 3306 };
const claimed = (over: Partial<ClusterState> = {}): ClusterState => ({
  clusterId: 'shop',
  epoch: 5,
  status: 'FAILING_OVER',
  durable: null,
  durableSeq: 0,
  start: { file: '', pos: 0, gtid: '0-1-9' },
  startPending: true,
  primary: replacement,
  leaseHolder: '',
  leaseToken: '',
  leaseExpiresAt: 0,
  heartbeatAt: null,
  server: null,
  ...over,
});

describe('promotion progress', () => {
  const promoted = { startPending: false, status: 'HEALTHY' as const, leaseHolder: 'new-agent' };
  const cases: [string, ClusterState | undefined, InstanceState, string][] = [
    ['claimed, not promoted: waiting', claimed(), 'running', 'waiting'],
    ['promoted, the agent has not joined: waiting', claimed({ startPending: false }), 'running', 'waiting'],
    ['promoted and its agent holds the lease (HEALTHY): promoted', claimed(promoted), 'running', 'promoted'],
    ['the replacement instance died: failed', claimed(), 'terminated', 'failed'],
    ['the replacement instance is unknown: failed', claimed(), 'missing', 'failed'],
    ['the epoch moved on: failed', claimed({ ...promoted, epoch: 6 }), 'running', 'failed'],
    ['the epoch names another primary: failed', claimed({ ...promoted, primary: { host: '10.0.0.8', port: 3306 } }), 'running', 'failed'],
    ['no state: failed', undefined, 'running', 'failed'],
  ];
  for (const [name, s, instance, want] of cases) {
    it(name, () => assert.equal(promotionProgress(s, 5, replacement, instance).kind, want));
  }
});
