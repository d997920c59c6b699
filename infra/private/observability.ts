import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';

/**
 * The namespace and metric names the agent writes (agent/metrics.ts, `metricUnits`): the two
 * files must agree, and test/infra/observability.test.ts checks the alarms use these.
 */
export const agentMetrics = {
  namespace: 'Squirrel',
  durableLag: 'DurableLagSeconds',
  bytesBehind: 'BytesBehind',
  chunksUploaded: 'ChunksUploaded',
  chunkBytes: 'ChunkBytes',
  heartbeatOk: 'HeartbeatOk',
  backupAge: 'BackupAgeSeconds',
  semiSyncFallback: 'SemiSyncFallback',
} as const;

/** When the alarms fire. */
export interface ObservabilityThresholds {
  /**
   * Alarm when the durable lag stays above this for `lagMinutes` minutes in a row.
   * @default Duration.seconds(30)
   */
  readonly durableLag?: Duration;
  /** @default 3 */
  readonly lagMinutes?: number;
  /**
   * Alarm after this many minutes in a row without a successful lease renewal, or without any
   * metrics line (the agent, its host, or the CloudWatch agent is gone). Detection starts the
   * failover on its own; this alarm tells a person.
   * @default 3
   */
  readonly heartbeatMissingMinutes?: number;
  /**
   * Alarm when the newest complete base backup is older than this, or none is known. The default
   * suits a daily `backupInterval` with two hours to take the backup.
   * @default Duration.hours(26)
   */
  readonly backupAge?: Duration;
}

export interface ObservabilityProps {
  /** The cluster's id: the `ClusterId` dimension of the agent's metrics. */
  readonly clusterId: string;
  /** Where every alarm (and, for conditions that last, its return to OK) is published. */
  readonly topic: sns.ITopic;
  readonly failover: sfn.IStateMachine;
  readonly restore: sfn.IStateMachine;
  /** The state table, for its consumed capacity on the dashboard. */
  readonly table: dynamodb.ITable;
  /** @default the defaults of each ObservabilityThresholds field */
  readonly thresholds?: ObservabilityThresholds;
}

const minute = Duration.minutes(1);

function positiveWhole(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new Error(`Observability: ${name} must be a whole number of minutes, at least 1. Received: ${value}`);
  return value;
}

/**
 * One cluster's dashboard and alarms: what the agent reports (durable lag, heartbeat, chunks,
 * backup age, semi-sync fallback), what the workflows did (failovers and restores, their
 * failures, the last failover's time), and the state table's load. Every alarm publishes to
 * the topic.
 */
export class Observability extends Construct {
  readonly dashboard: cloudwatch.Dashboard;
  readonly lagAlarm: cloudwatch.Alarm;
  readonly heartbeatAlarm: cloudwatch.Alarm;
  readonly backupAgeAlarm: cloudwatch.Alarm;
  readonly failoverFailedAlarm: cloudwatch.Alarm;
  readonly restoreFailedAlarm: cloudwatch.Alarm;
  readonly semiSyncFallbackAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    const t = props.thresholds ?? {};
    const lag = t.durableLag ?? Duration.seconds(30);
    const lagMinutes = positiveWhole('lagMinutes', t.lagMinutes ?? 3);
    const heartbeatMinutes = positiveWhole('heartbeatMissingMinutes', t.heartbeatMissingMinutes ?? 3);
    const backupAge = t.backupAge ?? Duration.hours(26);

    // alarms take the metrics without labels: a label turns an alarm's metric into a metric query
    const agent = (metricName: string, statistic: string, period = minute) =>
      new cloudwatch.Metric({ namespace: agentMetrics.namespace, metricName, dimensionsMap: { ClusterId: props.clusterId }, statistic, period });
    const lagMetric = agent(agentMetrics.durableLag, cloudwatch.Stats.MAXIMUM);
    const heartbeatMetric = agent(agentMetrics.heartbeatOk, cloudwatch.Stats.MINIMUM);
    const backupAgeMetric = agent(agentMetrics.backupAge, cloudwatch.Stats.MAXIMUM, Duration.minutes(15));
    const fallbackMetric = agent(agentMetrics.semiSyncFallback, cloudwatch.Stats.MAXIMUM);
    const failoverFailed = props.failover.metricFailed({ period: minute, statistic: cloudwatch.Stats.SUM });
    const restoreFailed = props.restore.metricFailed({ period: minute, statistic: cloudwatch.Stats.SUM });

    const notify = new actions.SnsAction(props.topic);
    const alarm = (alarmId: string, p: cloudwatch.AlarmProps, okToo: boolean) => {
      const a = new cloudwatch.Alarm(this, alarmId, p);
      a.addAlarmAction(notify);
      // a condition that lasts (lag, silence, an old backup) also says when it is over; a failed
      // execution is one event, and its alarm's return to OK a minute later would only be noise
      if (okToo) a.addOkAction(notify);
      return a;
    };
    this.lagAlarm = alarm('DurableLag', {
      metric: lagMetric,
      threshold: lag.toSeconds(),
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: lagMinutes,
      datapointsToAlarm: lagMinutes,
      // no lines at all is the heartbeat alarm's to report
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: `${props.clusterId}: the durable copy in S3 is more than ${lag.toSeconds()} s behind the primary's binlog for ${lagMinutes} minutes: a failover now would lose that much`,
    }, true);
    this.heartbeatAlarm = alarm('Heartbeat', {
      metric: heartbeatMetric,
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: heartbeatMinutes,
      datapointsToAlarm: heartbeatMinutes,
      // an agent that is gone writes nothing: silence is the failure this alarm is for
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      alarmDescription: `${props.clusterId}: no lease renewal (or no metrics from the agent) for ${heartbeatMinutes} minutes; detection starts a failover when the heartbeat is stale`,
    }, true);
    this.backupAgeAlarm = alarm('BackupAge', {
      metric: backupAgeMetric,
      threshold: backupAge.toSeconds(),
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      // the agent leaves the age out while it knows of no complete backup: a restore needs one
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      alarmDescription: `${props.clusterId}: the newest complete base backup is older than ${backupAge.toHours({ integral: false })} h, or none is known; restores replay more binlog, or cannot start`,
    }, true);
    this.failoverFailedAlarm = alarm('FailoverFailed', {
      metric: failoverFailed,
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: `${props.clusterId}: a failover workflow failed; the cluster is FAILED and a person decides (squirrel status; the execution's history in the Step Functions console)`,
    }, false);
    this.restoreFailedAlarm = alarm('RestoreFailed', {
      metric: restoreFailed,
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: `${props.clusterId}: a restore workflow failed (the execution's history in the Step Functions console names the step)`,
    }, false);
    this.semiSyncFallbackAlarm = alarm('SemiSyncFallback', {
      metric: fallbackMetric,
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: `${props.clusterId}: the primary fell back from semi-sync to asynchronous commits: acknowledged commits may not be in S3`,
    }, true);

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `squirrel-${props.clusterId.replace(/[^A-Za-z0-9_-]/g, '-')}`,
      defaultInterval: Duration.hours(3),
    });
    const lagShown = lagMetric.with({ label: 'durable lag (s)' });
    const heartbeatShown = heartbeatMetric.with({ label: 'heartbeat ok (1 = renewed)' });
    const backupAgeShown = backupAgeMetric.with({ label: 'newest base backup age (s)' });
    const chunks = agent(agentMetrics.chunksUploaded, cloudwatch.Stats.SUM).with({ label: 'chunks uploaded / min' });
    const chunkBytes = agent(agentMetrics.chunkBytes, cloudwatch.Stats.SUM).with({ label: 'chunk bytes / min' });
    const workflowCounts = (machine: sfn.IStateMachine, what: string) => [
      machine.metricStarted({ period: minute, statistic: cloudwatch.Stats.SUM, label: `${what} started` }),
      machine.metricSucceeded({ period: minute, statistic: cloudwatch.Stats.SUM, label: `${what} succeeded` }),
      machine.metricFailed({ period: minute, statistic: cloudwatch.Stats.SUM, label: `${what} failed` }),
    ];
    const lastFailoverTime = props.failover.metricTime({ period: Duration.minutes(5), statistic: cloudwatch.Stats.MAXIMUM, label: 'last failover: workflow time (ms)' });
    this.dashboard.addWidgets(
      new cloudwatch.TextWidget({
        width: 24,
        height: 3,
        markdown: [
          `# squirrel: ${props.clusterId}`,
          'Durable lag: how far the copy in S3 is behind the primary (what a failover would lose). Heartbeat ok: the agent renewed its lease. ',
          'The failover time is the workflow\'s, from detection to the endpoint move: add the detection delay (the stale-heartbeat threshold, or the EC2 event) for the outage as clients see it.',
        ].join('\n'),
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.SingleValueWidget({ title: 'now', width: 24, height: 4, metrics: [lagShown, heartbeatShown, backupAgeShown, lastFailoverTime] }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'durable lag',
        width: 12,
        left: [lagShown],
        right: [agent(agentMetrics.bytesBehind, cloudwatch.Stats.MAXIMUM).with({ label: 'bytes behind' })],
        leftAnnotations: [{ value: lag.toSeconds(), label: 'alarm' }],
      }),
      new cloudwatch.GraphWidget({ title: 'heartbeat', width: 12, left: [heartbeatShown], leftYAxis: { min: 0, max: 1 } }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'chunks',
        width: 12,
        left: [chunks],
        right: [
          chunkBytes,
          new cloudwatch.MathExpression({ expression: 'IF(n > 0, b / n, 0)', usingMetrics: { b: chunkBytes, n: chunks }, label: 'mean chunk size (bytes)', period: minute }),
        ],
      }),
      new cloudwatch.GraphWidget({
        title: 'newest base backup age (hours)',
        width: 12,
        left: [new cloudwatch.MathExpression({ expression: 'age / 3600', usingMetrics: { age: backupAgeMetric }, label: 'age (h)', period: Duration.minutes(15) })],
        leftAnnotations: [{ value: backupAge.toHours({ integral: false }), label: 'alarm' }],
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({ title: 'failovers and restores', width: 12, left: [...workflowCounts(props.failover, 'failovers'), ...workflowCounts(props.restore, 'restores')] }),
      new cloudwatch.GraphWidget({ title: 'failover workflow time (ms)', width: 12, left: [lastFailoverTime] }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'state table capacity',
        width: 12,
        left: [props.table.metricConsumedWriteCapacityUnits({ period: minute, statistic: cloudwatch.Stats.SUM, label: 'write units / min' })],
        right: [props.table.metricConsumedReadCapacityUnits({ period: minute, statistic: cloudwatch.Stats.SUM, label: 'read units / min' })],
      }),
      new cloudwatch.AlarmStatusWidget({
        title: 'alarms',
        width: 12,
        alarms: [this.lagAlarm, this.heartbeatAlarm, this.backupAgeAlarm, this.failoverFailedAlarm, this.restoreFailedAlarm, this.semiSyncFallbackAlarm],
      }),
    );
  }
}
