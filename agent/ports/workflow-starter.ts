/** The control plane's two workflows (Step Functions state machines; locally, the same definitions). */
export type WorkflowName = 'failover' | 'restore';

export interface StartedExecution {
  /** `already-running`: an execution of that name exists (two detections of one death). */
  status: 'started' | 'already-running';
  /** The provider's id of the execution (an execution ARN), when it told us. */
  executionId?: string;
}

/**
 * Starts workflow executions.
 *
 * Contract: executions are named, and a name is used once: starting a name that exists (running
 * or finished) starts nothing and reports `already-running` rather than failing. This is what
 * makes detection idempotent: the failover execution is named after the epoch it replaces.
 */
export interface WorkflowStarter {
  start(workflow: WorkflowName, name: string, input: Record<string, unknown>): Promise<StartedExecution>;
}
