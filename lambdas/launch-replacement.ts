import type { ControlPlane } from '../agent/control/control-plane.js';
import { parseTaskEvent, type WorkflowState } from '../agent/control/workflow-state.js';
import type { InstanceJob } from '../agent/ports/compute.js';
import { awsHandler } from './aws-wiring.js';

/**
 * LaunchReplacement: starts the instance that restores and promotes itself under the claimed
 * epoch (a failover, a restore replace-primary) or only restores (restore new-instance: nothing
 * is claimed; its address is reserved here). Idempotent per execution: the launch token is the
 * execution name.
 */
export function launchReplacement(cp: ControlPlane) {
  return async (event: unknown): Promise<NonNullable<WorkflowState['launch']>> => {
    const { executionName, state } = parseTaskEvent('LaunchReplacement', event);
    const target = state.target ?? 'latest';
    const job: InstanceJob = state.mode === 'new-instance' ? { kind: 'restore-only', target } : { kind: 'restore-and-promote', target };
    let epoch = state.claim?.epoch;
    let reservation = state.claim?.replacement;
    if (!reservation || epoch === undefined) {
      epoch = state.epoch ?? 0;
      reservation = await cp.compute.reserve({ clusterId: state.clusterId, epoch, token: executionName });
    }
    return cp.compute.launch({ clusterId: state.clusterId, epoch, reservation, job, token: executionName });
  };
}

export const handler = awsHandler(launchReplacement);
