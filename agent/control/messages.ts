import { describePrimary } from '../cluster/state.js';
import type { Notification } from '../ports/notifier.js';
import type { WorkflowState } from './workflow-state.js';

/** What the workflow tells people when it ends, from its state alone. Pure. */
export function outcomeNotification(executionName: string, state: WorkflowState): Notification {
  const what = state.target !== undefined ? `restore (${state.mode ?? 'replace-primary'})` : 'failover';
  const lines: string[] = [];
  if (state.reason) lines.push(`detected: ${state.reason}`);
  if (state.claim) lines.push(`claimed epoch ${state.claim.epoch} (fencing epoch ${state.claim.from})${state.claim.forced ? ', forced: the old instance was known stopped' : ''}`);
  if (state.fence) lines.push(`fenced: ${state.fence.detail}`);
  if (state.launch) lines.push(`replacement: ${state.launch.instanceId} at ${describePrimary(state.launch.identity)}`);
  if (state.promotion) lines.push(`promotion: ${state.promotion.detail}`);
  if (state.endpoint) lines.push(`endpoint: now ${state.endpoint.host}:${state.endpoint.port} (since ${state.endpoint.movedAt})`);
  if (state.error) {
    lines.push(`FAILED: ${state.error.Error}: ${state.error.Cause ?? ''}`.trimEnd());
    lines.push(state.failed?.detail ?? 'the cluster status was not changed');
    lines.push(state.endpoint ? 'The endpoint was moved before the failure.' : 'The endpoint was not moved: clients still reach the old address.');
    return { clusterId: state.clusterId, subject: `squirrel ${state.clusterId}: ${what} FAILED (${executionName})`.slice(0, 100), message: lines.join('\n') };
  }
  if (state.mode === 'new-instance' && state.launch) lines.push('The primary was left alone; the new instance restores beside it.');
  return { clusterId: state.clusterId, subject: `squirrel ${state.clusterId}: ${what} done (${executionName})`.slice(0, 100), message: lines.join('\n') };
}
