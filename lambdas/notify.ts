import { ClusterStateRepo } from '../agent/cluster/repo.js';
import type { ControlPlane } from '../agent/control/control-plane.js';
import { outcomeNotification } from '../agent/control/messages.js';
import { parseTaskEvent } from '../agent/control/workflow-state.js';
import { awsHandler } from './aws-wiring.js';

/**
 * Notify: tells people how the workflow ended (success or failure), from the execution's state,
 * and, for a workflow that claimed an epoch, records the outcome as the cluster's last failover.
 */
export function notify(cp: ControlPlane) {
  return async (event: unknown): Promise<{ subject: string }> => {
    const { executionName, startedAt, state } = parseTaskEvent('Notify', event);
    const n = outcomeNotification(executionName, state);
    await cp.notifier.publish(n);
    if (state.claim) {
      await new ClusterStateRepo(cp.stateStore, state.clusterId).recordLastFailover({
        epoch: state.claim.epoch,
        startedAt: startedAt ?? new Date(cp.now()).toISOString(),
        endpointMovedAt: state.endpoint?.movedAt ?? null,
        result: state.error ? 'FAILED' : 'SUCCEEDED',
        execution: executionName,
        ...(state.error ? { reason: `${state.error.Error}: ${state.error.Cause ?? ''}` } : {}),
      });
    }
    return { subject: n.subject };
  };
}

export const handler = awsHandler(notify);
