import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { HandlerFile } from '../control-functions.js';
import { acknowledgeWorkflowGrants } from './private/nag.js';
import { WorkflowSteps, type StepTimings } from './private/steps.js';

export interface RestoreWorkflowProps extends StepTimings {
  readonly functions: Record<HandlerFile, lambda.IFunction>;
  /** @default 2 hours */
  readonly timeout?: Duration;
}

/**
 * The restore workflow, started from the console. Input
 * `{"clusterId", "target": "latest" | {"time"} | {"gtid"}, "mode": "replace-primary" | "new-instance"}`.
 * replace-primary claims the next epoch and goes through the failover's fencing and endpoint
 * steps; new-instance leaves the primary alone, launches an instance that restores beside it, and
 * reports its address.
 */
export class RestoreWorkflow extends Construct {
  readonly stateMachine: sfn.StateMachine;

  constructor(scope: Construct, id: string, props: RestoreWorkflowProps) {
    super(scope, id);
    const steps = new WorkflowSteps(this, props.functions, 'Restore', props);
    const launch = steps.step('LaunchRestoreInstance', 'launch-replacement', 'launch');
    const report = steps.step('NotifyRestoreInstance', 'notify', 'notified');
    const badMode = new sfn.Fail(this, 'UnknownMode', { error: 'UnknownMode', cause: 'mode must be "replace-primary" or "new-instance"' });
    const mode = new sfn.Choice(this, 'Mode?')
      .when(sfn.Condition.stringEquals('$.mode', 'new-instance'), launch.next(report).next(new sfn.Succeed(this, 'RestoreInstanceLaunched')))
      .when(sfn.Condition.stringEquals('$.mode', 'replace-primary'), steps.replacePrimary())
      .otherwise(badMode);
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      definitionBody: sfn.DefinitionBody.fromChainable(mode),
      timeout: props.timeout ?? Duration.hours(2),
      // every execution's events, with their data, for the 3 a.m. reader (and cdk-nag SF1/SF2)
      logs: { destination: new logs.LogGroup(this, 'Executions', { retention: logs.RetentionDays.THREE_MONTHS, removalPolicy: RemovalPolicy.RETAIN }), level: sfn.LogLevel.ALL, includeExecutionData: true },
      tracingEnabled: true,
      comment: 'squirrel restore: to latest, a time or a GTID position, as a new instance or replacing the primary',
    });
    acknowledgeWorkflowGrants(this.stateMachine, Object.values(props.functions));
  }
}
