import type { ControlPlane } from '../agent/control/control-plane.js';
import { need, parseTaskEvent, type WorkflowState } from '../agent/control/workflow-state.js';
import { deadInstanceStates } from '../agent/ports/compute.js';
import { awsHandler } from './aws-wiring.js';

/**
 * FenceOldPrimary: stops the old instance with force and waits for it, bounded
 * (settings.fenceWaitMs). A stop that does not finish in time is reported, not failed: the claim
 * already fenced the old agent, and an agent that cannot renew its lease fences its own server.
 */
export function fenceOld(cp: ControlPlane) {
  return async (event: unknown): Promise<NonNullable<WorkflowState['fence']>> => {
    const { state } = parseTaskEvent('FenceOldPrimary', event);
    const { oldInstanceId } = need('FenceOldPrimary', state, 'claim');
    if (!oldInstanceId) return { stopped: false, detail: 'the old primary names no instance; the claim and its self-fencing fence it' };
    await cp.compute.stop(oldInstanceId, { force: true });
    const deadline = cp.now() + cp.settings.fenceWaitMs;
    for (;;) {
      const s = await cp.compute.describe(oldInstanceId);
      if (s !== 'stopping' && deadInstanceStates.includes(s)) return { stopped: true, detail: `instance ${oldInstanceId} is ${s}` };
      if (cp.now() >= deadline) return { stopped: false, detail: `instance ${oldInstanceId} still ${s} after ${cp.settings.fenceWaitMs} ms; continuing: the claim fenced its agent` };
      await cp.sleep(cp.settings.fencePollMs);
    }
  };
}

export const handler = awsHandler(fenceOld);
