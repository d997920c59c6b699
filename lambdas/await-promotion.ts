import { ClusterStateRepo } from '../agent/cluster/repo.js';
import type { ControlPlane } from '../agent/control/control-plane.js';
import { PromotionFailedError } from '../agent/control/errors.js';
import { promotionProgress } from '../agent/control/promotion.js';
import { need, parseTaskEvent, type WorkflowState } from '../agent/control/workflow-state.js';
import { awsHandler } from './aws-wiring.js';

/**
 * AwaitPromotion: one poll of the state item. `promoted: false` sends the state machine round
 * its Wait again; a replacement that died, an epoch that moved, or more than
 * settings.maxPromotionPolls polls is PromotionFailedError (the endpoint stays where it is).
 */
export function awaitPromotion(cp: ControlPlane) {
  return async (event: unknown): Promise<NonNullable<WorkflowState['promotion']>> => {
    const { state } = parseTaskEvent('AwaitPromotion', event);
    const claim = need('AwaitPromotion', state, 'claim');
    const launch = need('AwaitPromotion', state, 'launch');
    const polls = (state.promotion?.polls ?? 0) + 1;
    const current = await new ClusterStateRepo(cp.stateStore, state.clusterId).read();
    const p = promotionProgress(current, claim.epoch, claim.replacement.identity, await cp.compute.describe(launch.instanceId));
    if (p.kind === 'failed') throw new PromotionFailedError(state.clusterId, claim.epoch, p.reason);
    if (p.kind === 'promoted') return { promoted: true, polls, detail: `epoch ${claim.epoch} is HEALTHY under its new primary after ${polls} poll(s)` };
    if (polls >= cp.settings.maxPromotionPolls) throw new PromotionFailedError(state.clusterId, claim.epoch, `still ${p.reason} after ${polls} polls`);
    return { promoted: false, polls, detail: p.reason };
  };
}

export const handler = awsHandler(awaitPromotion);
