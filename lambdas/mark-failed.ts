import { ClusterStateRepo } from '../agent/cluster/repo.js';
import { statusChanges } from '../agent/cluster/transition.js';
import type { ControlPlane } from '../agent/control/control-plane.js';
import { parseTaskEvent, type WorkflowState } from '../agent/control/workflow-state.js';
import { StatusChangeError } from '../agent/errors.js';
import { awsHandler } from './aws-wiring.js';

/**
 * MarkFailed: the Catch of every step. Marks the cluster FAILED only when the epoch is the one
 * this execution claimed: a workflow that claimed nothing (the lease stayed live, another
 * workflow moved the epoch) owns nothing and changes nothing.
 */
export function markFailed(cp: ControlPlane) {
  return async (event: unknown): Promise<NonNullable<WorkflowState['failed']>> => {
    const { executionName, state } = parseTaskEvent('MarkFailed', event);
    const repo = new ClusterStateRepo(cp.stateStore, state.clusterId);
    const current = await repo.read();
    if (!state.claim || !current || current.epoch !== state.claim.epoch || current.claimToken !== executionName) {
      return { marked: false, detail: `nothing claimed by this execution; cluster left at epoch ${current?.epoch ?? '(none)'}, ${current?.status ?? 'no state'}` };
    }
    if (current.status === 'FAILED') return { marked: true, detail: `epoch ${current.epoch} is FAILED` };
    if (!statusChanges[current.status].includes('FAILED')) return { marked: false, detail: `epoch ${current.epoch} is ${current.status}, which may not become FAILED` };
    try {
      await repo.setStatus(current.epoch, current.status, 'FAILED', cp.now());
    } catch (err) {
      if (!(err instanceof StatusChangeError)) throw err;
      return { marked: false, detail: `status changed meanwhile: ${err.message}` };
    }
    return { marked: true, detail: `epoch ${current.epoch} marked FAILED (was ${current.status}): a person decides` };
  };
}

export const handler = awsHandler(markFailed);
