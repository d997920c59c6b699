import { z } from 'zod';
import { ClusterStateRepo } from '../agent/cluster/repo.js';
import type { ControlPlane } from '../agent/control/control-plane.js';
import { onInstanceStateChange } from '../agent/control/detect.js';
import { TaskInputError } from '../agent/control/errors.js';
import { awsHandler, clusterIdFromEnv } from './aws-wiring.js';

/** EventBridge's "EC2 Instance State-change Notification" (the fields used). */
const stateChangeEvent = z.object({
  'detail-type': z.literal('EC2 Instance State-change Notification'),
  detail: z.object({ 'instance-id': z.string().min(1), state: z.string().min(1) }),
});

export type DetectionResult = { action: 'failover'; executionName: string; status: 'started' | 'already-running' } | { action: 'suspect' | 'ignore'; reason: string };

/**
 * An EC2 instance changed state. When it is the cluster's primary going away, starts the failover
 * workflow named after the epoch it replaces: a second detection of the same death (this event
 * again, or the heartbeat check) finds the name taken and starts nothing.
 */
export function ec2StateChange(cp: ControlPlane, clusterId: string) {
  return async (event: unknown): Promise<DetectionResult> => {
    const parsed = stateChangeEvent.safeParse(event);
    if (!parsed.success) throw new TaskInputError('ec2-state-change', parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
    const { detail } = parsed.data;
    const state = await new ClusterStateRepo(cp.stateStore, clusterId).read();
    const d = onInstanceStateChange(state, { instanceId: detail['instance-id'], state: detail.state });
    if (d.action !== 'failover') return { action: 'ignore', reason: d.reason };
    const started = await cp.starter.start('failover', d.executionName, { ...d.input });
    return { action: 'failover', executionName: d.executionName, status: started.status };
  };
}

export const handler = awsHandler((cp) => ec2StateChange(cp, clusterIdFromEnv()));
