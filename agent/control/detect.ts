import type { ClusterState } from '../cluster/state.js';
import { deadInstanceStates, type InstanceState } from '../ports/compute.js';
import { failoverExecutionName } from './execution-name.js';

/**
 * Detection: whether what the control plane just saw (an EC2 state-change event, a stale
 * heartbeat) starts a failover. Pure: the state item, the event and `now` in, a decision out.
 */

/** The failover workflow's input (DESIGN.md, Workflows). */
export interface FailoverInput {
  clusterId: string;
  /** The epoch the failover replaces. */
  epoch: number;
  reason: string;
}

export type Detection =
  | { action: 'failover'; executionName: string; input: FailoverInput }
  /** A live instance with a stale heartbeat: marked SUSPECT; the lease rule decides later. */
  | { action: 'suspect'; epoch: number; from: 'HEALTHY'; reason: string }
  | { action: 'ignore'; reason: string };

/** Statuses under which a workflow already owns the cluster (or a person does: FAILED). */
const busy = ['FAILING_OVER', 'RESTORING', 'FAILED'] as const;

function failover(state: ClusterState, reason: string): Detection {
  return { action: 'failover', executionName: failoverExecutionName(state.clusterId, state.epoch), input: { clusterId: state.clusterId, epoch: state.epoch, reason } };
}

/** The EC2 states that mean the instance is going away (EventBridge's `detail.state`). */
export const deathStates = ['stopping', 'stopped', 'shutting-down', 'terminated'] as const;

/**
 * An EC2 instance changed state: a failover when it is the current epoch's primary, it is going
 * away, and no workflow already owns the cluster.
 */
export function onInstanceStateChange(state: ClusterState | undefined, event: { instanceId: string; state: string }): Detection {
  if (!state) return { action: 'ignore', reason: 'the cluster has no state item' };
  if (!(deathStates as readonly string[]).includes(event.state)) return { action: 'ignore', reason: `instance state ${event.state} is not a death` };
  if (state.primary?.instanceId !== event.instanceId) {
    return { action: 'ignore', reason: `${event.instanceId} is not the primary of epoch ${state.epoch} (${state.primary?.instanceId ?? 'none named'})` };
  }
  if ((busy as readonly string[]).includes(state.status)) return { action: 'ignore', reason: `the cluster is ${state.status}` };
  // the epoch's primary was claimed but never promoted: the workflow that claimed it owns it
  if (state.startPending) return { action: 'ignore', reason: `epoch ${state.epoch} is still being promoted` };
  return failover(state, `instance ${event.instanceId} is ${event.state}`);
}

export interface HeartbeatCheck {
  nowMs: number;
  /** A heartbeat older than this is stale. */
  staleAfterMs: number;
  /** What Compute says of the primary's instance; undefined when the primary names no instance. */
  instance: InstanceState | undefined;
  /** The claim's margin after the lease's expiry (repo.ts defaultLeaseMarginMs). */
  leaseMarginMs: number;
}

/**
 * The scheduled check. A stale heartbeat alone never fails over: a dead instance (not running)
 * does at once; a live one is SUSPECT, and only once its lease has expired plus the margin (its
 * agent has fenced its own server by then) does it fail over. A primary that names no instance
 * cannot be asked, so it is treated as live.
 */
export function onHeartbeatCheck(state: ClusterState | undefined, check: HeartbeatCheck): Detection {
  if (!state) return { action: 'ignore', reason: 'the cluster has no state item' };
  if ((busy as readonly string[]).includes(state.status)) return { action: 'ignore', reason: `the cluster is ${state.status}` };
  if (state.startPending) return { action: 'ignore', reason: `epoch ${state.epoch} is still being promoted` };
  const beatMs = state.heartbeatAt ? Date.parse(state.heartbeatAt) : NaN;
  const ageMs = check.nowMs - beatMs;
  if (Number.isFinite(ageMs) && ageMs <= check.staleAfterMs) return { action: 'ignore', reason: `heartbeat ${ageMs} ms old` };
  const stale = Number.isFinite(ageMs) ? `heartbeat ${Math.round(ageMs / 1000)} s old` : 'no heartbeat';
  if (check.instance !== undefined && deadInstanceStates.includes(check.instance)) {
    return failover(state, `${stale} and instance ${state.primary?.instanceId} is ${check.instance}`);
  }
  const leaseOver = state.leaseHolder === '' || state.leaseExpiresAt < check.nowMs - check.leaseMarginMs;
  if (leaseOver) return failover(state, `${stale}, the instance is ${check.instance ?? 'not known'}, and the lease has expired`);
  if (state.status === 'SUSPECT') return { action: 'ignore', reason: `already SUSPECT (${stale}); the lease is live until ${new Date(state.leaseExpiresAt).toISOString()}` };
  return { action: 'suspect', epoch: state.epoch, from: 'HEALTHY', reason: `${stale}, the instance is ${check.instance ?? 'not known'}: the lease decides` };
}
