import { ClusterStateRepo } from '../agent/cluster/repo.js';
import type { ControlPlane } from '../agent/control/control-plane.js';
import { EpochMovedError } from '../agent/control/errors.js';
import { parseTaskEvent, type WorkflowState } from '../agent/control/workflow-state.js';
import { deadInstanceStates } from '../agent/ports/compute.js';
import { awsHandler } from './aws-wiring.js';

/**
 * ClaimNextEpoch: reserves the replacement's address and claims epoch n+1 for it, recording the
 * handover (the old agent can advance nothing from here on). A failover's claim is forced only
 * when the old instance is known stopped; otherwise a live lease refuses it with LeaseLiveError,
 * which the state machine retries, bounded, until the lease expires plus the margin. A console
 * restore that replaces the primary is forced: a person asked to replace a primary that is
 * healthy and renewing, whose lease would never expire; what it commits after the handover is
 * not in the restore, by that person's choice, and its agent fences its server at its next
 * renewal (within a heartbeat) before FenceOldPrimary stops it. The claim token is the execution
 * name, so a retried task recognises its own landed claim.
 */
export function claimEpoch(cp: ControlPlane) {
  return async (event: unknown): Promise<NonNullable<WorkflowState['claim']>> => {
    const { executionName, state } = parseTaskEvent('ClaimNextEpoch', event);
    const repo = new ClusterStateRepo(cp.stateStore, state.clusterId);
    const current = await repo.read();
    // a restore names no epoch: it replaces the current one, or, when this very execution's claim
    // already landed (a retried task), the one before it
    const from = state.epoch ?? (current && current.claimToken === executionName ? current.epoch - 1 : current?.epoch);
    if (!current || from === undefined) throw new EpochMovedError(state.clusterId, state.epoch ?? 1, undefined);
    const ours = current.epoch === from + 1 && current.claimToken === executionName;
    if (!ours && current.epoch !== from) throw new EpochMovedError(state.clusterId, from, current.epoch);
    const replacement = await cp.compute.reserve({ clusterId: state.clusterId, epoch: from + 1, token: executionName });
    // a claim that already landed (a retried task) no longer names the old primary: fencing then
    // rests on the claim and the old agent's self-fencing alone
    const oldInstanceId = ours ? null : (current.primary?.instanceId ?? null);
    const oldState = oldInstanceId ? await cp.compute.describe(oldInstanceId) : undefined;
    const forced = (oldState !== undefined && deadInstanceStates.includes(oldState)) || state.mode === 'replace-primary';
    // no start: the replacement has no binlog yet; the epoch stays pending until its promote records one
    const claimed = await repo.claimNextEpoch(from, undefined, cp.now(), {
      claimToken: executionName,
      primary: replacement.identity,
      force: forced,
      leaseMarginMs: cp.settings.leaseMarginMs,
      status: state.target !== undefined ? 'RESTORING' : 'FAILING_OVER',
    });
    return { from, epoch: claimed.epoch, replacement, oldInstanceId, forced };
  };
}

export const handler = awsHandler(claimEpoch);
