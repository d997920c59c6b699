import type { ControlPlane } from '../agent/control/control-plane.js';
import { outcomeNotification } from '../agent/control/messages.js';
import { parseTaskEvent } from '../agent/control/workflow-state.js';
import { awsHandler } from './aws-wiring.js';

/** Notify: tells people how the workflow ended (success or failure), from the execution's state. */
export function notify(cp: ControlPlane) {
  return async (event: unknown): Promise<{ subject: string }> => {
    const { executionName, state } = parseTaskEvent('Notify', event);
    const n = outcomeNotification(executionName, state);
    await cp.notifier.publish(n);
    return { subject: n.subject };
  };
}

export const handler = awsHandler(notify);
