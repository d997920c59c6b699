import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { HandlerFile } from '../control-functions.js';
import { acknowledgeWorkflowGrants } from './private/nag.js';
import { WorkflowSteps, type StepTimings } from './private/steps.js';

export interface FailoverWorkflowProps extends StepTimings {
  readonly functions: Record<HandlerFile, lambda.IFunction>;
  /** @default 1 hour: a restore of a large database is most of it */
  readonly timeout?: Duration;
}

/**
 * The failover workflow. Input `{"clusterId", "epoch", "reason"}`, started by detection and
 * named after the epoch it replaces (agent/control/execution-name.ts).
 */
export class FailoverWorkflow extends Construct {
  readonly stateMachine: sfn.StateMachine;

  constructor(scope: Construct, id: string, props: FailoverWorkflowProps) {
    super(scope, id);
    const steps = new WorkflowSteps(this, props.functions, 'Failover', props);
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      definitionBody: sfn.DefinitionBody.fromChainable(steps.replacePrimary()),
      timeout: props.timeout ?? Duration.hours(1),
      // every execution's events, with their data, for the 3 a.m. reader (and cdk-nag SF1/SF2)
      logs: { destination: new logs.LogGroup(this, 'Executions', { retention: logs.RetentionDays.THREE_MONTHS, removalPolicy: RemovalPolicy.RETAIN }), level: sfn.LogLevel.ALL, includeExecutionData: true },
      tracingEnabled: true,
      comment: 'squirrel failover: claim the next epoch, fence the old primary, launch a replacement that restores and promotes itself, move the endpoint',
    });
    acknowledgeWorkflowGrants(this.stateMachine, Object.values(props.functions));
  }
}
