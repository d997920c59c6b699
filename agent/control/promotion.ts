import { primaryKey, type ClusterState, type PrimaryIdentity } from '../cluster/state.js';
import { deadInstanceStates, type InstanceState } from '../ports/compute.js';

/**
 * Whether the replacement has become the primary of the epoch claimed for it: the epoch is still
 * ours, names the replacement, its timeline began (not `startPending`: `squirrel promote` recorded
 * it), and its agent holds the lease (taking it sets HEALTHY). Pure.
 */
export type PromotionProgress = { kind: 'promoted' } | { kind: 'waiting'; reason: string } | { kind: 'failed'; reason: string };

export function promotionProgress(state: ClusterState | undefined, epoch: number, replacement: PrimaryIdentity, instance: InstanceState): PromotionProgress {
  if (!state || state.epoch !== epoch) return { kind: 'failed', reason: `the cluster moved to epoch ${state?.epoch ?? '(none)'} while waiting` };
  if (!state.primary || primaryKey(state.primary) !== primaryKey(replacement)) return { kind: 'failed', reason: `epoch ${epoch} names another primary` };
  if (deadInstanceStates.includes(instance)) return { kind: 'failed', reason: `the replacement instance is ${instance}` };
  if (state.startPending) return { kind: 'waiting', reason: 'not promoted yet (the timeline start is pending)' };
  if (state.status !== 'HEALTHY' || state.leaseHolder === '') return { kind: 'waiting', reason: `promoted; its agent has not joined (status ${state.status})` };
  return { kind: 'promoted' };
}
