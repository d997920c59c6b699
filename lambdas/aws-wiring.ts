import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { Route53Client } from '@aws-sdk/client-route-53';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SNSClient } from '@aws-sdk/client-sns';
import { Ec2Compute } from '../agent/aws/ec2-compute.js';
import { Route53Endpoint } from '../agent/aws/route53-endpoint.js';
import { SecondaryIpEndpoint } from '../agent/aws/secondary-ip-endpoint.js';
import { SfnStarter } from '../agent/aws/sfn-starter.js';
import { SnsNotifier } from '../agent/aws/sns-notifier.js';
import { defaultControlSettings, type ControlPlane } from '../agent/control/control-plane.js';
import { ConfigError, type ConfigProblem } from '../agent/errors.js';
import { sleep } from '../agent/retry.js';
import { DynamoStateStore } from '../agent/store/dynamo-state-store.js';

// Lambda runs Node 22; the SDK's Node 20 warning is noise where the handlers run on 20 (locally)
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/**
 * The one place where the Lambda handlers meet AWS: the environment variables the CDK construct
 * sets (infra/squirrel-cluster.ts) become the control plane's ports. Read once per container, on
 * the first invocation, so that importing a handler (tests, the local runner) touches nothing.
 */
export const envNames = {
  table: 'SQUIRREL_TABLE',
  clusterId: 'SQUIRREL_CLUSTER_ID',
  launchTemplateId: 'SQUIRREL_LAUNCH_TEMPLATE_ID',
  subnetId: 'SQUIRREL_SUBNET_ID',
  securityGroupIds: 'SQUIRREL_SECURITY_GROUP_IDS',
  hostedZoneId: 'SQUIRREL_HOSTED_ZONE_ID',
  recordDomain: 'SQUIRREL_RECORD_DOMAIN',
  /** Set: the endpoint is this secondary private address (SecondaryIpEndpoint) instead of the record. */
  endpointAddress: 'SQUIRREL_ENDPOINT_ADDRESS',
  topicArn: 'SQUIRREL_TOPIC_ARN',
  failoverArn: 'SQUIRREL_FAILOVER_STATE_MACHINE_ARN',
  restoreArn: 'SQUIRREL_RESTORE_STATE_MACHINE_ARN',
  staleAfterMs: 'SQUIRREL_STALE_AFTER_MS',
} as const;

function required(env: NodeJS.ProcessEnv, problems: ConfigProblem[], name: string): string {
  const v = env[name];
  if (!v) problems.push({ key: name, value: v, expected: 'set by the SquirrelCluster construct' });
  return v ?? '';
}

/** The ports on AWS, from `env`. Every missing variable at once: ConfigError. */
export function awsControlPlane(env: NodeJS.ProcessEnv = process.env): ControlPlane {
  const problems: ConfigProblem[] = [];
  const get = (name: string) => required(env, problems, name);
  const table = get(envNames.table);
  const compute = { launchTemplateId: get(envNames.launchTemplateId), subnetId: get(envNames.subnetId), securityGroupIds: get(envNames.securityGroupIds).split(',').filter(Boolean) };
  const endpointAddress = env[envNames.endpointAddress];
  const zone = endpointAddress ? undefined : { hostedZoneId: get(envNames.hostedZoneId), domain: get(envNames.recordDomain) };
  const topicArn = get(envNames.topicArn);
  // only the detection handlers start workflows, and the task handlers must not name the state
  // machines that name them (a CloudFormation cycle): checked when a start is asked for
  const arns = { failover: env[envNames.failoverArn] ?? '', restore: env[envNames.restoreArn] ?? '' };
  const sfn = new SfnStarter(new SFNClient({}), arns);
  const staleAfterMs = env[envNames.staleAfterMs] ? Number(env[envNames.staleAfterMs]) : defaultControlSettings.staleAfterMs;
  if (!Number.isFinite(staleAfterMs) || staleAfterMs <= 0) problems.push({ key: envNames.staleAfterMs, value: env[envNames.staleAfterMs], expected: 'milliseconds, more than 0' });
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    stateStore: new DynamoStateStore(new DynamoDBClient({}), table),
    compute: new Ec2Compute(new EC2Client({}), compute),
    endpoint: zone
      ? new Route53Endpoint(new Route53Client({}), { hostedZoneId: zone.hostedZoneId, recordName: (clusterId) => `${clusterId}.${zone.domain}` })
      : new SecondaryIpEndpoint(new EC2Client({}), { address: endpointAddress! }),
    notifier: new SnsNotifier(new SNSClient({}), topicArn),
    starter: {
      start: async (workflow, name, input) => {
        const key = workflow === 'failover' ? envNames.failoverArn : envNames.restoreArn;
        if (!arns[workflow]) throw new ConfigError([{ key, value: env[key], expected: 'the state machine ARN, set by the SquirrelCluster construct on detection handlers' }]);
        return sfn.start(workflow, name, input);
      },
    },
    now: Date.now,
    sleep: (ms) => sleep(ms),
    settings: { ...defaultControlSettings, staleAfterMs },
  };
}

/** The cluster a detection handler watches (one per deployment). */
export function clusterIdFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  const v = env[envNames.clusterId];
  if (!v) throw new ConfigError([{ key: envNames.clusterId, value: v, expected: 'the cluster id, set by the SquirrelCluster construct' }]);
  return v;
}

/** A Lambda entry point: the handler made on the first invocation, with the AWS ports. */
export function awsHandler<E, R>(make: (cp: ControlPlane) => (event: E) => Promise<R>): (event: E) => Promise<R> {
  let made: ((event: E) => Promise<R>) | undefined;
  return (event) => {
    made ??= make(awsControlPlane());
    return made(event);
  };
}
