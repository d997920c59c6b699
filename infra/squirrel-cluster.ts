import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { envNames } from '../lambdas/aws-wiring.js';
import { ControlFunctions } from './control-functions.js';
import { FailoverWorkflow } from './workflows/failover.js';
import { RestoreWorkflow } from './workflows/restore.js';
import type { StepTimings } from './workflows/private/steps.js';

export interface SquirrelClusterProps {
  /** The cluster's id (`SQUIRREL_CLUSTER_ID` of its agents). */
  readonly clusterId: string;
  /** The code of the Lambda handlers: a directory holding `lambdas/<file>.js` (see infra/README.md). */
  readonly code: lambda.Code;
  /** The launch template replacements start from; it must not name network interfaces (compute reserves one). */
  readonly launchTemplateId: string;
  /** The private subnet of replacements' network interfaces. */
  readonly subnetId: string;
  readonly securityGroupIds: string[];
  /** The private hosted zone of the endpoint record `<clusterId>.<recordDomain>`. */
  readonly hostedZoneId: string;
  readonly recordDomain: string;
  /** A heartbeat older than this is stale. @default 60 s */
  readonly staleAfter?: Duration;
  /** How often the heartbeat check runs. @default 1 minute */
  readonly checkEvery?: Duration;
  /** @default the StepTimings defaults */
  readonly timings?: StepTimings;
}

/**
 * One protected cluster's control plane: its state table, the handlers, the failover and restore
 * workflows, and the detection that starts the failover (EC2 state changes, a scheduled heartbeat
 * check). Read top to bottom as the architecture: state, handlers, workflows, detection.
 */
export class SquirrelCluster extends Construct {
  readonly table: dynamodb.Table;
  readonly topic: sns.Topic;
  readonly functions: ControlFunctions;
  readonly failover: FailoverWorkflow;
  readonly restore: RestoreWorkflow;

  constructor(scope: Construct, id: string, props: SquirrelClusterProps) {
    super(scope, id);
    // state: the table's keys are the contract with agent/store/dynamo-state-store.ts
    this.table = new dynamodb.Table(this, 'State', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.topic = new sns.Topic(this, 'Notifications', { enforceSSL: true });

    // handlers
    this.functions = new ControlFunctions(this, 'Handlers', {
      code: props.code,
      environment: {
        [envNames.table]: this.table.tableName,
        [envNames.clusterId]: props.clusterId,
        [envNames.launchTemplateId]: props.launchTemplateId,
        [envNames.subnetId]: props.subnetId,
        [envNames.securityGroupIds]: props.securityGroupIds.join(','),
        [envNames.hostedZoneId]: props.hostedZoneId,
        [envNames.recordDomain]: props.recordDomain,
        [envNames.topicArn]: this.topic.topicArn,
        [envNames.staleAfterMs]: String((props.staleAfter ?? Duration.seconds(60)).toMilliseconds()),
      },
    });
    const fns = this.functions.byFile;
    for (const fn of Object.values(fns)) this.table.grantReadWriteData(fn);
    this.topic.grantPublish(fns.notify);
    const ec2 = (actions: string[]) => new iam.PolicyStatement({ actions, resources: ['*'] });
    fns['claim-epoch'].addToRolePolicy(ec2(['ec2:CreateNetworkInterface', 'ec2:CreateTags', 'ec2:DescribeInstanceStatus']));
    fns['fence-old'].addToRolePolicy(ec2(['ec2:StopInstances', 'ec2:DescribeInstanceStatus']));
    fns['launch-replacement'].addToRolePolicy(ec2(['ec2:RunInstances', 'ec2:CreateNetworkInterface', 'ec2:CreateTags', 'iam:PassRole']));
    fns['await-promotion'].addToRolePolicy(ec2(['ec2:DescribeInstanceStatus']));
    fns['heartbeat-check'].addToRolePolicy(ec2(['ec2:DescribeInstanceStatus']));
    for (const file of ['claim-epoch', 'fence-old', 'launch-replacement', 'await-promotion', 'heartbeat-check'] as const) {
      // a decision: the instances and interfaces a failover creates or stops are not known when
      // this is deployed (a replacement of a replacement), DescribeInstanceStatus has no
      // resource-level permissions, and RunInstances touches many resource types
      Validations.of(fns[file]).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'EC2 actions on instances and network interfaces that do not exist at deploy time (each failover creates new ones); DescribeInstanceStatus supports no resource-level permission.',
      });
    }
    fns['move-endpoint'].addToRolePolicy(new iam.PolicyStatement({ actions: ['route53:ChangeResourceRecordSets', 'route53:ListResourceRecordSets'], resources: [`arn:aws:route53:::hostedzone/${props.hostedZoneId}`] }));

    // workflows
    this.failover = new FailoverWorkflow(this, 'FailoverWorkflow', { functions: fns, ...props.timings });
    this.restore = new RestoreWorkflow(this, 'RestoreWorkflow', { functions: fns, ...props.timings });

    // detection: both start the failover by name, so one death starts one execution
    for (const fn of [fns['ec2-state-change'], fns['heartbeat-check']]) {
      fn.addEnvironment(envNames.failoverArn, this.failover.stateMachine.stateMachineArn);
      fn.addEnvironment(envNames.restoreArn, this.restore.stateMachine.stateMachineArn);
      this.failover.stateMachine.grantStartExecution(fn);
    }
    new events.Rule(this, 'PrimaryStateChange', {
      eventPattern: { source: ['aws.ec2'], detailType: ['EC2 Instance State-change Notification'], detail: { state: ['stopping', 'stopped', 'shutting-down', 'terminated'] } },
      targets: [new targets.LambdaFunction(fns['ec2-state-change'])],
    });
    new events.Rule(this, 'HeartbeatCheck', { schedule: events.Schedule.rate(props.checkEvery ?? Duration.minutes(1)), targets: [new targets.LambdaFunction(fns['heartbeat-check'])] });
  }
}
