import { StartExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import type { StartedExecution, WorkflowName, WorkflowStarter } from '../ports/workflow-starter.js';

/**
 * The WorkflowStarter on Step Functions. A name that exists is ExecutionAlreadyExists when its
 * input differs or it has finished (a running execution started again with the same input
 * succeeds, returning the same ARN): both are reported as `already-running`.
 */
export class SfnStarter implements WorkflowStarter {
  constructor(
    private readonly sfn: SFNClient,
    private readonly stateMachineArns: Record<WorkflowName, string>,
  ) {}

  async start(workflow: WorkflowName, name: string, input: Record<string, unknown>): Promise<StartedExecution> {
    try {
      const out = await this.sfn.send(new StartExecutionCommand({ stateMachineArn: this.stateMachineArns[workflow], name, input: JSON.stringify(input) }));
      return { status: 'started', ...(out.executionArn ? { executionId: out.executionArn } : {}) };
    } catch (err) {
      if ((err as { name?: string }).name === 'ExecutionAlreadyExists') return { status: 'already-running' };
      throw err;
    }
  }
}
