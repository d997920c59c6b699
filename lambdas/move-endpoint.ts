import type { ControlPlane } from '../agent/control/control-plane.js';
import { need, parseTaskEvent, type WorkflowState } from '../agent/control/workflow-state.js';
import { awsHandler } from './aws-wiring.js';

/** MoveEndpoint: points the cluster's endpoint at the promoted replacement. Only ever runs after AwaitPromotion said promoted. */
export function moveEndpoint(cp: ControlPlane) {
  return async (event: unknown): Promise<NonNullable<WorkflowState['endpoint']>> => {
    const { state } = parseTaskEvent('MoveEndpoint', event);
    const { identity } = need('MoveEndpoint', state, 'launch');
    await cp.endpoint.point(state.clusterId, identity);
    return { host: identity.host, port: identity.port, movedAt: new Date(cp.now()).toISOString() };
  };
}

export const handler = awsHandler(moveEndpoint);
