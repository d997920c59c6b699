import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toFields, type ClusterState, type ClusterStatus, type DurablePosition } from '../../../agent/cluster/state.js';
import { decide, statusChanges, write, type ClusterAction, type RefusalKind } from '../../../agent/cluster/transition.js';
import { clusterPk, stateSk } from '../../../agent/keys.js';
import { MemoryStateStore } from '../../../agent/store/memory-state-store.js';

const start = { file: 'b.000001', pos: 4, gtid: '' };
const next = { file: 'c.000001', pos: 4, gtid: '0-1-9' };
const pos = (epoch: number, seq: number): DurablePosition => ({ epoch, seq, file: 'b.000001', end: 100 * seq, gtid: `0-1-${seq}`, key: `k${epoch}-${seq}`, at: '' });
const a = { instanceId: 'i-a', host: '10.0.0.1', port: 3306 };
const b = { instanceId: 'i-b', host: '10.0.0.2', port: 3306 };

/** Epoch 2 of a cluster, its primary `a`, the lease held by holder h / token t1 until 10 000, durable at seq 3. */
const healthy: ClusterState = {
  clusterId: 'c',
  epoch: 2,
  status: 'HEALTHY',
  durable: pos(2, 3),
  durableSeq: 3,
  start,
  primary: a,
  leaseHolder: 'h',
  leaseToken: 't1',
  leaseExpiresAt: 10_000,
  heartbeatAt: null,
  server: null,
  claimToken: 'claim-2',
};
const released: ClusterState = { ...healthy, leaseHolder: '', leaseToken: '', leaseExpiresAt: 0 };
const claimedForB: ClusterState = { ...released, epoch: 3, durableSeq: 0, primary: b, status: 'FAILING_OVER', handovers: [{ epoch: 2, durable: pos(2, 3), at: '' }] };
/** Epoch 3 claimed for `b` before b was restored and promoted: no start yet. */
const pendingForB: ClusterState = { ...claimedForB, start: { file: '', pos: 0, gtid: '0-1-3' }, startPending: true };
const begin = (over: Partial<Extract<ClusterAction, { kind: 'begin-timeline' }>> = {}): ClusterAction => ({ kind: 'begin-timeline', epoch: 3, primary: b, start: next, ...over });

const take = (over: Partial<Extract<ClusterAction, { kind: 'take-lease' }>> = {}): ClusterAction => ({ kind: 'take-lease', epoch: 2, holder: 'h', leaseToken: 't1', leaseMs: 1000, primary: a, ...over });
const claimNext = (over: Partial<Extract<ClusterAction, { kind: 'claim-next' }>> = {}): ClusterAction => ({
  kind: 'claim-next',
  from: 2,
  seen: { durableSeq: 3, durable: pos(2, 3) },
  start: next,
  primary: b,
  claimToken: 'claim-3',
  leaseMarginMs: 5000,
  ...over,
});
const advance = (over: Partial<Extract<ClusterAction, { kind: 'advance' }>> = {}): ClusterAction => ({ kind: 'advance', holder: 'h', leaseToken: 't1', position: pos(2, 4), previousSeq: 3, ...over });

interface Row {
  name: string;
  state: ClusterState | undefined;
  action: ClusterAction;
  now: number;
  /** A refusal, or fields of the state after it. */
  expect: RefusalKind | Partial<ClusterState>;
}

const rows: Row[] = [
  // claims
  { name: 'the first claim creates epoch 1 with its lease and primary', state: undefined, action: { kind: 'claim-first', start, primary: a, holder: 'h', leaseToken: 't1', leaseMs: 1000, claimToken: 'c1' }, now: 0, expect: { epoch: 1, leaseHolder: 'h', leaseToken: 't1', leaseExpiresAt: 1000, primary: a, status: 'HEALTHY' } },
  { name: 'a first claim of an existing cluster', state: healthy, action: { kind: 'claim-first', start, holder: 'h', leaseToken: 't1', leaseMs: 1000, claimToken: 'c1' }, now: 0, expect: 'exists' },
  { name: 'claiming the next epoch while the lease is live', state: healthy, action: claimNext(), now: 9_000, expect: 'lease-live' },
  { name: 'claiming the next epoch within the margin after the expiry', state: healthy, action: claimNext(), now: 14_000, expect: 'lease-live' },
  { name: 'claiming the next epoch after expiry plus margin records the handover and names the new primary', state: healthy, action: claimNext(), now: 15_001, expect: { epoch: 3, durableSeq: 0, durable: pos(2, 3), leaseHolder: '', leaseToken: '', primary: b, status: 'FAILING_OVER', start: next, handovers: [{ epoch: 2, durable: pos(2, 3), at: new Date(15_001).toISOString() }] } },
  { name: 'a claim that names no primary clears the old epoch\'s, and any agent may take it', state: released, action: claimNext({ primary: undefined }), now: 1, expect: { epoch: 3, primary: undefined } },
  { name: 'claiming the next epoch at once after a release', state: released, action: claimNext(), now: 1, expect: { epoch: 3 } },
  { name: 'a forced claim does not wait for the lease', state: healthy, action: claimNext({ force: true }), now: 1, expect: { epoch: 3 } },
  { name: 'claiming from an epoch that is no longer current', state: claimedForB, action: claimNext(), now: 20_000, expect: 'fenced' },
  { name: 'claiming after the old epoch advanced past what the claimer read', state: healthy, action: claimNext({ seen: { durableSeq: 2, durable: pos(2, 2) } }), now: 20_000, expect: 'moved' },
  { name: 'a claim without a start (before the replacement restored) is pending, its start a placeholder at the durable GTID position', state: healthy, action: claimNext({ start: undefined }), now: 15_001, expect: { epoch: 3, startPending: true, start: { file: '', pos: 0, gtid: '0-1-3' }, primary: b, handovers: [{ epoch: 2, durable: pos(2, 3), at: new Date(15_001).toISOString() }] } },
  { name: 'a pending claim of an empty epoch starts at the older durable GTID position', state: { ...released, durable: pos(1, 7), durableSeq: 0 }, action: claimNext({ start: undefined, seen: { durableSeq: 0, durable: pos(1, 7) } }), now: 1, expect: { startPending: true, start: { file: '', pos: 0, gtid: '0-1-7' } } },
  { name: 'a pending claim of a cluster with nothing durable starts at the empty position', state: { ...released, durable: null, durableSeq: 0 }, action: claimNext({ start: undefined, seen: { durableSeq: 0, durable: null } }), now: 1, expect: { startPending: true, start: { file: '', pos: 0, gtid: '' } } },
  { name: 'claiming the next epoch from a pending one (its primary never promoted) with a start is not pending', state: pendingForB, action: claimNext({ from: 3, seen: { durableSeq: 0, durable: pos(2, 3) }, primary: a }), now: 1, expect: { epoch: 4, startPending: undefined, start: next, handovers: [{ epoch: 2, durable: pos(2, 3), at: '' }, { epoch: 3, durable: null, at: new Date(1).toISOString() }] } },
  { name: 'an empty epoch hands over no position', state: { ...released, durable: pos(1, 7), durableSeq: 0 }, action: claimNext({ seen: { durableSeq: 0, durable: pos(1, 7) } }), now: 1, expect: { handovers: [{ epoch: 2, durable: null, at: new Date(1).toISOString() }] } },
  // the lease
  { name: 'the same process takes its lease back at once', state: healthy, action: take(), now: 5_000, expect: { leaseExpiresAt: 6_000 } },
  { name: 'another process of the same holder waits for the expiry', state: healthy, action: take({ leaseToken: 't2' }), now: 5_000, expect: 'lease-held' },
  { name: 'a restart whose predecessor is known dead takes the lease at once', state: healthy, action: take({ leaseToken: 't2', predecessorToken: 't1' }), now: 5_000, expect: { leaseToken: 't2' } },
  { name: 'a predecessor token that is not the holder\'s does not help', state: healthy, action: take({ leaseToken: 't2', predecessorToken: 't0' }), now: 5_000, expect: 'lease-held' },
  { name: 'another holder with a dead predecessor\'s token does not get in', state: healthy, action: take({ holder: 'x', leaseToken: 't2', predecessorToken: 't1' }), now: 5_000, expect: 'lease-held' },
  { name: 'anyone takes an expired lease', state: healthy, action: take({ holder: 'x', leaseToken: 't9' }), now: 10_001, expect: { leaseHolder: 'x' } },
  { name: 'a lease of an older epoch', state: claimedForB, action: take(), now: 20_000, expect: 'fenced' },
  { name: 'the agent of another server may not take a just-claimed epoch', state: claimedForB, action: take({ epoch: 3 }), now: 20_000, expect: 'not-primary' },
  { name: 'an agent that does not say which server it is may not take an epoch claimed for one', state: claimedForB, action: take({ epoch: 3, primary: undefined }), now: 20_000, expect: 'not-primary' },
  { name: 'the named primary\'s agent takes the claimed epoch and makes it HEALTHY', state: claimedForB, action: take({ epoch: 3, primary: b, holder: 'hb', leaseToken: 'tb' }), now: 20_000, expect: { leaseHolder: 'hb', status: 'HEALTHY' } },
  { name: 'the same server is named by instance id and port, whatever host the agent reaches it by', state: claimedForB, action: take({ epoch: 3, primary: { ...b, host: '127.0.0.1' } }), now: 20_000, expect: { leaseHolder: 'h' } },
  { name: 'the named primary\'s agent may not take an epoch whose timeline has not begun', state: pendingForB, action: take({ epoch: 3, primary: b, holder: 'hb', leaseToken: 'tb' }), now: 20_000, expect: 'start-pending' },
  { name: 'another server\'s agent is told it is not the primary of a pending epoch', state: pendingForB, action: take({ epoch: 3 }), now: 20_000, expect: 'not-primary' },
  { name: 'any agent may take an epoch whose claim named no primary', state: { ...released, primary: undefined }, action: take({ primary: b }), now: 1, expect: { leaseHolder: 'h' } },
  { name: 'renewing by the holding process', state: healthy, action: { kind: 'renew', epoch: 2, holder: 'h', leaseToken: 't1', leaseMs: 1000, report: { server: null } }, now: 9_500, expect: { leaseExpiresAt: 10_500 } },
  { name: 'renewing by a process that lost the lease', state: { ...healthy, leaseToken: 't2' }, action: { kind: 'renew', epoch: 2, holder: 'h', leaseToken: 't1', leaseMs: 1000, report: { server: null } }, now: 9_500, expect: 'lease-held' },
  { name: 'renewing in a fenced epoch', state: claimedForB, action: { kind: 'renew', epoch: 2, holder: 'h', leaseToken: 't1', leaseMs: 1000, report: { server: null } }, now: 9_500, expect: 'fenced' },
  { name: 'releasing', state: healthy, action: { kind: 'release', epoch: 2, holder: 'h', leaseToken: 't1' }, now: 0, expect: { leaseHolder: '', leaseToken: '' } },
  // the durable position
  { name: 'advancing one chunk', state: healthy, action: advance(), now: 0, expect: { durableSeq: 4, durable: pos(2, 4), durableBy: { holder: 'h', token: 't1' } } },
  { name: 'advancing from a seq the position is not at', state: healthy, action: advance({ previousSeq: 2 }), now: 0, expect: 'position-conflict' },
  { name: 'advancing by another process of the same holder', state: healthy, action: advance({ leaseToken: 't2' }), now: 0, expect: 'lease-held' },
  { name: 'advancing after the next epoch was claimed (fencing comes first)', state: claimedForB, action: advance({ previousSeq: 0 }), now: 0, expect: 'fenced' },
  { name: 'advancing a cluster that does not exist', state: undefined, action: advance(), now: 0, expect: 'missing' },
  // the timeline start (promote)
  { name: 'promote records the start of the epoch claimed for its server, which is no longer pending', state: pendingForB, action: begin(), now: 0, expect: { epoch: 3, start: next, startPending: undefined, primary: b, leaseHolder: '' } },
  { name: 'the same server is named by instance id and port when promote records the start', state: pendingForB, action: begin({ primary: { ...b, host: '127.0.0.1' } }), now: 0, expect: { start: next } },
  { name: 'recording the start of an epoch claimed for another server', state: pendingForB, action: begin({ primary: a }), now: 0, expect: 'not-primary' },
  { name: 'recording the start of an epoch whose claim named no server', state: { ...pendingForB, primary: undefined }, action: begin(), now: 0, expect: 'not-primary' },
  { name: 'recording the start of an epoch that began already', state: claimedForB, action: begin(), now: 0, expect: 'started' },
  { name: 'recording the start of an epoch with durable chunks', state: { ...pendingForB, durableSeq: 1 }, action: begin(), now: 0, expect: 'started' },
  { name: 'recording the start of an epoch that is no longer current', state: { ...pendingForB, epoch: 4 }, action: begin(), now: 0, expect: 'fenced' },
  { name: 'recording the start of a cluster that does not exist', state: undefined, action: begin(), now: 0, expect: 'missing' },
  { name: 'the named primary\'s agent takes the epoch once its start is recorded', state: { ...pendingForB, start: next, startPending: undefined }, action: take({ epoch: 3, primary: b, holder: 'hb', leaseToken: 'tb' }), now: 20_000, expect: { leaseHolder: 'hb', status: 'HEALTHY' } },
  // statuses
  { name: 'a workflow marks a stale cluster SUSPECT', state: healthy, action: { kind: 'set-status', epoch: 2, from: 'HEALTHY', to: 'SUSPECT' }, now: 0, expect: { status: 'SUSPECT' } },
  { name: 'a status change from a status that moved first', state: healthy, action: { kind: 'set-status', epoch: 2, from: 'SUSPECT', to: 'FAILED' }, now: 0, expect: 'status-changed' },
  { name: 'a status change that is not in the table', state: { ...healthy, status: 'FAILING_OVER' }, action: { kind: 'set-status', epoch: 2, from: 'FAILING_OVER', to: 'HEALTHY' }, now: 0, expect: 'not-allowed' },
  { name: 'the renewal of a SUSPECT cluster\'s agent makes it HEALTHY again', state: { ...healthy, status: 'SUSPECT' }, action: { kind: 'renew', epoch: 2, holder: 'h', leaseToken: 't1', leaseMs: 1000, report: { server: null } }, now: 0, expect: { status: 'HEALTHY' } },
];

describe('cluster state transitions', () => {
  for (const row of rows) {
    it(row.name, () => {
      const d = decide(row.state, row.action, row.now);
      if (typeof row.expect === 'string') {
        assert.deepEqual(d, { ok: false, refusal: row.expect });
        return;
      }
      assert.ok(d.ok, `refused: ${d.ok ? '' : d.refusal}`);
      for (const [k, v] of Object.entries(row.expect)) assert.deepEqual(d.state[k as keyof ClusterState], v, k);
    });
  }

  it('decides as the store does: each row\'s write, sent to a store holding the row\'s state, lands exactly when decide allows it', async () => {
    for (const row of rows) {
      const store = new MemoryStateStore();
      if (row.state) await store.put({ pk: clusterPk('c'), sk: stateSk, ...toFields(row.state) });
      const w = write(row.action, row.now);
      const landed = await store.update(clusterPk('c'), stateSk, w.set, w.condition).then(
        () => true,
        () => false,
      );
      assert.equal(landed, decide(row.state, row.action, row.now).ok, row.name);
    }
  });

  it('allows every workflow status change only from where the table says', () => {
    const all: ClusterStatus[] = ['HEALTHY', 'SUSPECT', 'FAILING_OVER', 'RESTORING', 'FAILED'];
    for (const from of all) {
      for (const to of all) {
        const d = decide({ ...healthy, status: from }, { kind: 'set-status', epoch: 2, from, to }, 0);
        assert.equal(d.ok, statusChanges[from].includes(to), `${from} -> ${to}`);
      }
    }
  });
});
