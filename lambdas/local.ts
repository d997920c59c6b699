import type { ControlPlane } from '../agent/control/control-plane.js';
import type { HandlerFile } from '../infra/control-functions.js';
import { awaitPromotion } from './await-promotion.js';
import { claimEpoch } from './claim-epoch.js';
import { ec2StateChange } from './ec2-state-change.js';
import { fenceOld } from './fence-old.js';
import { heartbeatCheck } from './heartbeat-check.js';
import { launchReplacement } from './launch-replacement.js';
import { markFailed } from './mark-failed.js';
import { moveEndpoint } from './move-endpoint.js';
import { notify } from './notify.js';

/**
 * Every handler of lambdas/, by file, made with the given ports: what the local runner calls in
 * place of a Lambda invocation. The detection handlers watch the cluster named by `clusterId`.
 */
export const taskHandlers: Record<HandlerFile, (cp: ControlPlane, clusterId?: string) => (event: unknown) => Promise<unknown>> = {
  'claim-epoch': claimEpoch,
  'fence-old': fenceOld,
  'launch-replacement': launchReplacement,
  'await-promotion': awaitPromotion,
  'move-endpoint': moveEndpoint,
  notify,
  'mark-failed': markFailed,
  'ec2-state-change': (cp, clusterId) => ec2StateChange(cp, clusterId ?? ''),
  'heartbeat-check': (cp, clusterId) => heartbeatCheck(cp, clusterId ?? ''),
};
