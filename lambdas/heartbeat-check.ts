import { ClusterStateRepo } from '../agent/cluster/repo.js';
import type { ControlPlane } from '../agent/control/control-plane.js';
import { onHeartbeatCheck } from '../agent/control/detect.js';
import { FencedError, StatusChangeError } from '../agent/errors.js';
import { awsHandler, clusterIdFromEnv } from './aws-wiring.js';
import type { DetectionResult } from './ec2-state-change.js';

/**
 * The scheduled check: a stale heartbeat is confirmed with the instance's status before anything
 * happens. A dead instance starts the failover (named after the epoch, like the EC2 event's); a
 * live one becomes SUSPECT and fails over only once its lease has expired plus the margin.
 */
export function heartbeatCheck(cp: ControlPlane, clusterId: string) {
  return async (_event: unknown): Promise<DetectionResult> => {
    const repo = new ClusterStateRepo(cp.stateStore, clusterId);
    const state = await repo.read();
    const instanceId = state?.primary?.instanceId;
    const d = onHeartbeatCheck(state, {
      nowMs: cp.now(),
      staleAfterMs: cp.settings.staleAfterMs,
      leaseMarginMs: cp.settings.leaseMarginMs,
      instance: instanceId ? await cp.compute.describe(instanceId) : undefined,
    });
    if (d.action === 'failover') {
      const started = await cp.starter.start('failover', d.executionName, { ...d.input });
      return { action: 'failover', executionName: d.executionName, status: started.status };
    }
    if (d.action === 'suspect') {
      try {
        await repo.setStatus(d.epoch, d.from, 'SUSPECT', cp.now());
      } catch (err) {
        // the agent renewed (HEALTHY again) or a workflow moved the status first: theirs wins
        if (!(err instanceof StatusChangeError || err instanceof FencedError)) throw err;
        return { action: 'ignore', reason: `not marked SUSPECT: ${err.message}` };
      }
      return { action: 'suspect', reason: d.reason };
    }
    return { action: 'ignore', reason: d.reason };
  };
}

export const handler = awsHandler((cp) => heartbeatCheck(cp, clusterIdFromEnv()));
