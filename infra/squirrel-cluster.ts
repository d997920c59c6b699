import { Duration, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { envNames } from '../lambdas/aws-wiring.js';
import { ClusterStorage, type ClusterStorageProps } from './cluster-storage.js';
import { ControlFunctions } from './control-functions.js';
import { DatabaseHost } from './database-host.js';
import { grantCompute, grantEndpoint, grantSecondaryIpEndpoint } from './private/control-grants.js';
import { grantAgentStorage, grantStateItems } from './perms.js';
import { validateClusterProps } from './validate-cluster-props.js';
import { FailoverWorkflow } from './workflows/failover.js';
import { RestoreWorkflow } from './workflows/restore.js';
import { Observability } from './private/observability.js';
import type { StepTimings } from './workflows/private/steps.js';

/** A protected cluster, made here or imported (`SquirrelCluster.fromClusterAttributes`): what an agent's host needs granted. */
export interface ISquirrelCluster {
  readonly clusterId: string;
  readonly bucket: s3.IBucket;
  readonly table: dynamodb.ITable;
  /** What an agent of this cluster needs: its objects, its items, the bucket's key. */
  grantAgent(grantee: iam.IGrantable): void;
}

/** A cluster deployed elsewhere (another stack or app), by its names. */
export interface SquirrelClusterAttributes {
  readonly clusterId: string;
  /** @default '' */
  readonly prefix?: string;
  readonly bucketName: string;
  readonly tableName: string;
  /** The bucket's SSE-KMS key. @default none (SSE-S3) */
  readonly bucketKeyArn?: string;
}

/** The storage props (bucket, key, table, Object Lock, lifecycle) are ClusterStorage's, passed on as they are. */
export interface SquirrelClusterProps extends Omit<ClusterStorageProps, 'clusterId' | 'prefix' | 'accessLogsBucket'> {
  /** The cluster's id (`SQUIRREL_CLUSTER_ID` of its agents): 1-63 letters, digits, `_ . -`. */
  readonly clusterId: string;
  /** The key prefix of the cluster's objects in the bucket (`SQUIRREL_PREFIX`): empty, or ending in `/`. @default '' */
  readonly prefix?: string;
  /**
   * The code of the Lambda handlers: a directory holding `lambdas/<file>.mjs`.
   * @default the handlers bundled from lambdas/ by the local esbuild at synth time
   */
  readonly code?: lambda.Code;
  /**
   * An existing launch template replacements start from, instead of the database host's; it must
   * not name network interfaces or security groups (compute reserves an interface).
   * @default the launch template of a new DatabaseHost (then `vpc` is required)
   */
  readonly launchTemplateId?: string;
  /**
   * The role of an existing launch template's instance profile, which the launch handler passes to EC2.
   * @default the DatabaseHost's role; with `launchTemplateId`, any role passed to EC2 (iam:PassedToService)
   */
  readonly instanceRole?: iam.IRole;
  /** The VPC of the database host's security group (and of a new private hosted zone). @default none: `launchTemplateId` and `hostedZoneId` are required */
  readonly vpc?: ec2.IVpc;
  /** Who may connect to MariaDB on the database host. @default nobody until a rule is added to `host.securityGroup` */
  readonly databaseClients?: ec2.IPeer;
  /** The database host's AMI. @default Amazon Linux 2023 from its public SSM parameter */
  readonly machineImage?: ec2.IMachineImage;
  /** The database host's instance type. @default r6i.large */
  readonly instanceType?: ec2.InstanceType;
  /** The private subnet of replacements' network interfaces: `subnet-…`. */
  readonly subnetId: string;
  /** More security groups of replacements' network interfaces: `sg-…`. @default the database host's group only (none without a host) */
  readonly securityGroupIds?: string[];
  /** The private hosted zone of the endpoint record `<clusterId>.<recordDomain>`. @default a new private hosted zone `recordDomain` in `vpc` */
  readonly hostedZoneId?: string;
  /** The domain of the endpoint record, without a trailing dot. */
  readonly recordDomain: string;
  /**
   * The endpoint as a secondary private address instead of the record: an IPv4 address in the
   * subnet of `subnetId`, moved to each new primary's network interface (clients follow at once,
   * no DNS TTL). With it, no hosted zone is used.
   * @default none: the Route 53 record `<clusterId>.<recordDomain>`
   */
  readonly endpointAddress?: string;
  /** A heartbeat older than this is stale. @default 60 s */
  readonly staleAfter?: Duration;
  /** How often the heartbeat check runs, in whole minutes. @default 1 minute */
  readonly checkEvery?: Duration;
  /** @default the StepTimings defaults */
  readonly timings?: StepTimings;
}

/**
 * One protected cluster: its storage (bucket, key, state table), the handlers, the failover and
 * restore workflows, and the detection that starts the failover (EC2 state changes, a scheduled
 * heartbeat check). Read top to bottom as the architecture: storage, state, host, endpoint,
 * handlers, workflows, detection.
 */
export class SquirrelCluster extends Construct implements ISquirrelCluster {
  readonly storage: ClusterStorage;
  readonly table: dynamodb.ITable;
  readonly bucket: s3.IBucket;
  readonly topic: sns.Topic;
  /** The database host, unless an existing launch template was given. */
  readonly host?: DatabaseHost;
  /** The private hosted zone of the endpoint, when this construct created it. */
  readonly zone?: route53.PrivateHostedZone;
  readonly functions: ControlFunctions;
  readonly failover: FailoverWorkflow;
  readonly restore: RestoreWorkflow;
  /** The dashboard and the alarms (to the topic). */
  readonly observability: Observability;

  /** A cluster deployed elsewhere, so that another app's hosts can be granted its agent's access. */
  static fromClusterAttributes(scope: Construct, id: string, attrs: SquirrelClusterAttributes): ISquirrelCluster {
    class Imported extends Construct implements ISquirrelCluster {
      readonly clusterId = attrs.clusterId;
      readonly bucket = s3.Bucket.fromBucketName(this, 'Bucket', attrs.bucketName);
      readonly table = dynamodb.Table.fromTableName(this, 'Table', attrs.tableName);
      private readonly key = attrs.bucketKeyArn ? kms.Key.fromKeyArn(this, 'Key', attrs.bucketKeyArn) : undefined;
      grantAgent(grantee: iam.IGrantable): void {
        grantAgentStorage(grantee, { bucket: this.bucket, ...(this.key ? { key: this.key } : {}), clusterPrefix: `${attrs.prefix ?? ''}${attrs.clusterId}/` });
        grantStateItems(grantee, this.table, attrs.clusterId);
      }
    }
    return new Imported(scope, id);
  }

  get clusterId(): string {
    return this.props.clusterId;
  }

  constructor(scope: Construct, id: string, private readonly props: SquirrelClusterProps) {
    super(scope, id);
    validateClusterProps(props);

    // storage and state
    this.storage = new ClusterStorage(this, 'Storage', {
      clusterId: props.clusterId,
      prefix: props.prefix,
      bucket: props.bucket,
      bucketKey: props.bucketKey,
      table: props.table,
      objectLockRetention: props.objectLockRetention,
      stagingExpiry: props.stagingExpiry,
      abortIncompleteUploadsAfter: props.abortIncompleteUploadsAfter,
    });
    this.table = this.storage.table;
    this.bucket = this.storage.bucket;
    this.topic = new sns.Topic(this, 'Notifications', { enforceSSL: true });

    // host: what the first primary and every replacement boot from
    let launchTemplateId = props.launchTemplateId;
    let instanceRole = props.instanceRole;
    const securityGroupIds = [...(props.securityGroupIds ?? [])];
    if (!launchTemplateId) {
      this.host = new DatabaseHost(this, 'Host', {
        clusterId: props.clusterId,
        vpc: props.vpc!,
        clients: props.databaseClients,
        machineImage: props.machineImage,
        instanceType: props.instanceType,
        bucketName: this.bucket.bucketName,
        prefix: props.prefix ?? '',
        tableName: this.table.tableName,
      });
      this.grantAgent(this.host.role);
      launchTemplateId = this.host.launchTemplate.launchTemplateId!;
      instanceRole ??= this.host.role;
      securityGroupIds.unshift(this.host.securityGroup.securityGroupId);
    }

    // endpoint: the record lives in this zone (or the endpoint is a secondary address: no zone)
    let hostedZoneId = props.hostedZoneId;
    if (!hostedZoneId && !props.endpointAddress) {
      this.zone = new route53.PrivateHostedZone(this, 'Zone', { zoneName: props.recordDomain, vpc: props.vpc! });
      hostedZoneId = this.zone.hostedZoneId;
    }

    // handlers
    this.functions = new ControlFunctions(this, 'Handlers', {
      code: props.code,
      environment: {
        [envNames.table]: this.table.tableName,
        [envNames.clusterId]: props.clusterId,
        [envNames.launchTemplateId]: launchTemplateId,
        [envNames.subnetId]: props.subnetId,
        [envNames.securityGroupIds]: securityGroupIds.join(','),
        ...(props.endpointAddress ? { [envNames.endpointAddress]: props.endpointAddress } : { [envNames.hostedZoneId]: hostedZoneId!, [envNames.recordDomain]: props.recordDomain }),
        [envNames.topicArn]: this.topic.topicArn,
        [envNames.staleAfterMs]: String((props.staleAfter ?? Duration.seconds(60)).toMilliseconds()),
      },
    });
    const fns = this.functions.byFile;
    for (const fn of Object.values(fns)) this.storage.grantControlPlane(fn);
    this.topic.grantPublish(fns.notify);
    grantCompute(fns, {
      clusterId: props.clusterId,
      launchTemplateId,
      subnetId: props.subnetId,
      securityGroupIds,
      instanceRole,
    });
    if (props.endpointAddress) grantSecondaryIpEndpoint(fns['move-endpoint'], props.clusterId);
    else grantEndpoint(fns['move-endpoint'], Stack.of(this).formatArn({ service: 'route53', region: '', account: '', resource: 'hostedzone', resourceName: hostedZoneId! }));

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

    // observability: the agent's metrics and the workflows' outcomes, alarms to the topic
    this.observability = new Observability(this, 'Observability', { clusterId: props.clusterId, topic: this.topic, failover: this.failover.stateMachine, restore: this.restore.stateMachine, table: this.table });
  }

  /** What an agent of this cluster needs: its objects, its items, the bucket's key. */
  grantAgent(grantee: iam.IGrantable): void {
    this.storage.grantAgent(grantee);
  }
}
