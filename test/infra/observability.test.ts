import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { App, Duration, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { metricUnits } from '../../agent/metrics.js';
import { agentMetrics, Observability, type ObservabilityThresholds } from '../../infra/private/observability.js';

const topicArn = 'arn:aws:sns:us-east-1:111111111111:squirrel-alarms';
const failoverArn = 'arn:aws:states:us-east-1:111111111111:stateMachine:failover';
const restoreArn = 'arn:aws:states:us-east-1:111111111111:stateMachine:restore';

/** A tiny stack with stand-ins (imported: they add no resources of their own) and the construct. */
function make(thresholds?: ObservabilityThresholds, clusterId = 'shop', outdir?: string): { app: App; stack: Stack } {
  const app = new App(outdir ? { outdir } : {});
  const stack = new Stack(app, 'ObservabilityTest', { env: { account: '111111111111', region: 'us-east-1' } });
  new Observability(stack, 'Observability', {
    clusterId,
    topic: sns.Topic.fromTopicArn(stack, 'Topic', topicArn),
    failover: sfn.StateMachine.fromStateMachineArn(stack, 'Failover', failoverArn),
    restore: sfn.StateMachine.fromStateMachineArn(stack, 'Restore', restoreArn),
    table: dynamodb.Table.fromTableName(stack, 'Table', 'squirrel-state'),
    ...(thresholds ? { thresholds } : {}),
  });
  return { app, stack };
}

function build(thresholds?: ObservabilityThresholds, clusterId = 'shop'): { template: Template } {
  return { template: Template.fromStack(make(thresholds, clusterId).stack) };
}

const clusterDimension = [{ Name: 'ClusterId', Value: 'shop' }];

describe('Observability', () => {
  const { template } = build();

  it('alarms when the durable lag stays above 30 s for 3 minutes, silence not counting', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'Squirrel',
      MetricName: 'DurableLagSeconds',
      Dimensions: clusterDimension,
      Statistic: 'Maximum',
      Period: 60,
      Threshold: 30,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
      TreatMissingData: 'notBreaching',
      AlarmActions: [topicArn],
      OKActions: [topicArn],
    });
  });

  it('alarms when the heartbeat is not ok for 3 minutes, and when the agent writes nothing at all', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'HeartbeatOk',
      Dimensions: clusterDimension,
      Statistic: 'Minimum',
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      EvaluationPeriods: 3,
      TreatMissingData: 'breaching',
      AlarmActions: [topicArn],
    });
  });

  it('alarms when the newest base backup is older than 26 hours or none is known', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'BackupAgeSeconds',
      Dimensions: clusterDimension,
      Threshold: 26 * 3600,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'breaching',
      AlarmActions: [topicArn],
    });
  });

  it('alarms on a failed failover and on a failed restore, each on its own state machine, without an OK notice', () => {
    for (const arn of [failoverArn, restoreArn]) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/States',
        MetricName: 'ExecutionsFailed',
        Dimensions: [{ Name: 'StateMachineArn', Value: arn }],
        Statistic: 'Sum',
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
        AlarmActions: [topicArn],
        OKActions: Match.absent(),
      });
    }
  });

  it('alarms on a semi-sync fallback', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'SemiSyncFallback',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [topicArn],
    });
  });

  it('has six alarms, every one publishing to the topic', () => {
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')) as { Properties: { AlarmActions: unknown[] } }[];
    assert.equal(alarms.length, 6);
    for (const a of alarms) assert.deepEqual(a.Properties.AlarmActions, [topicArn]);
  });

  it('has one dashboard named after the cluster, showing the agent metrics and the failover time', () => {
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    const [dashboard] = Object.values(template.findResources('AWS::CloudWatch::Dashboard')) as { Properties: { DashboardName: string; DashboardBody: unknown } }[];
    assert.equal(dashboard!.Properties.DashboardName, 'squirrel-shop');
    const body = JSON.stringify(dashboard!.Properties.DashboardBody);
    for (const name of ['DurableLagSeconds', 'BytesBehind', 'ChunksUploaded', 'ChunkBytes', 'HeartbeatOk', 'BackupAgeSeconds', 'ExecutionTime', 'ExecutionsStarted', 'ExecutionsFailed', 'ConsumedWriteCapacityUnits']) {
      assert.ok(body.includes(name), `the dashboard shows ${name}`);
    }
  });

  it('uses the metric names the agent writes', () => {
    const { namespace, ...names } = agentMetrics;
    assert.equal(namespace, 'Squirrel');
    assert.deepEqual(Object.values(names).sort(), Object.keys(metricUnits).sort());
  });

  it('takes other thresholds', () => {
    const t = build({ durableLag: Duration.seconds(5), lagMinutes: 2, heartbeatMissingMinutes: 5, backupAge: Duration.hours(8) }).template;
    t.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'DurableLagSeconds', Threshold: 5, EvaluationPeriods: 2 });
    t.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'HeartbeatOk', EvaluationPeriods: 5 });
    t.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'BackupAgeSeconds', Threshold: 8 * 3600 });
  });

  it('refuses a number of minutes that is not a whole number of at least 1, quoting it', () => {
    assert.throws(() => build({ heartbeatMissingMinutes: 0 }), /heartbeatMissingMinutes.*Received: 0/);
    assert.throws(() => build({ lagMinutes: 1.5 }), /lagMinutes.*Received: 1.5/);
  });

  it('names the dashboard with the characters dashboards allow', () => {
    const t = build(undefined, 'shop.eu').template;
    t.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'squirrel-shop-eu' });
  });

  /** Synthesizes with cdk-nag's AwsSolutions checks, as infra/synth.ts does; the report's text when they fail. */
  function nag(extra?: (stack: Stack) => void): string | undefined {
    const outdir = mkdtempSync(join(tmpdir(), 'squirrel-observability-'));
    try {
      const { app, stack } = make(undefined, 'shop', outdir);
      extra?.(stack);
      Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
      try {
        app.synth();
        return undefined;
      } catch (err) {
        assert.match((err as Error).message, /Validation failed/);
        return readFileSync(join(outdir, 'validation-report.json'), 'utf8');
      }
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  }

  it('passes cdk-nag (AwsSolutions) with nothing acknowledged', () => {
    assert.equal(nag(), undefined);
  });

  it('(the cdk-nag check above is live: a topic without enforced TLS fails the same synth)', () => {
    assert.match(nag((stack) => new sns.Topic(stack, 'Plain')) ?? '', /AwsSolutions-SNS3/);
  });
});
