import { Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type { HandlerFile } from '../control-functions.js';

/** The tag agent/aws/ec2-compute.ts puts on every interface and instance it creates. */
export const clusterTag = 'squirrel:cluster';

export interface ComputeGrantProps {
  readonly clusterId: string;
  readonly launchTemplateId: string;
  readonly subnetId: string;
  readonly securityGroupIds: string[];
  /** The role replacements run with. @default any role passed to EC2 */
  readonly instanceRole?: iam.IRole;
}

/**
 * The EC2 calls of agent/aws/ec2-compute.ts, handler by handler. What a failover creates is
 * tagged `squirrel:cluster=<clusterId>` in the creating call, so creating requires that tag
 * (aws:RequestTag) and stopping or attaching requires it on the target (aws:ResourceTag): a
 * handler of one cluster can neither stop nor reuse another's instances and interfaces.
 */
export function grantCompute(fns: Record<HandlerFile, lambda.IFunction>, p: ComputeGrantProps): void {
  const stack = Stack.of(fns['claim-epoch']);
  // every resource of a type (images are owned by no account of ours: their ARN has no account)
  const ec2Arn = (resource: string, ownAccount = true) => stack.formatArn({ service: 'ec2', resource, resourceName: '*', ...(ownAccount ? {} : { account: '' }) });
  const named = (resource: string, name: string) => stack.formatArn({ service: 'ec2', resource, resourceName: name });
  const requestTagged = { StringEquals: { [`aws:RequestTag/${clusterTag}`]: p.clusterId } };
  const resourceTagged = { StringEquals: { [`aws:ResourceTag/${clusterTag}`]: p.clusterId } };
  const network = [named('subnet', p.subnetId), ...p.securityGroupIds.map((sg) => named('security-group', sg))];
  const add = (fn: lambda.IFunction, s: iam.PolicyStatementProps) => fn.addToRolePolicy(new iam.PolicyStatement(s));
  const nagArn = (resource: string, ownAccount = true) => `arn:<AWS::Partition>:ec2:<AWS::Region>:${ownAccount ? '<AWS::AccountId>' : ''}:${resource}/*`;

  // reserve (claim-epoch): a tagged interface in the configured subnet and groups
  const reserve = fns['claim-epoch'];
  add(reserve, { actions: ['ec2:CreateNetworkInterface'], resources: [ec2Arn('network-interface')], conditions: requestTagged });
  add(reserve, { actions: ['ec2:CreateNetworkInterface'], resources: network });
  add(reserve, { actions: ['ec2:CreateTags'], resources: [ec2Arn('network-interface')], conditions: { StringEquals: { 'ec2:CreateAction': 'CreateNetworkInterface' } } });
  acknowledgeWildcard(reserve, nagArn('network-interface'), 'The interface a failover reserves does not exist at deploy time; creating one requires the request to tag it squirrel:cluster=<this cluster>, and tagging is allowed only inside that CreateNetworkInterface call.');

  // launch (launch-replacement): a tagged instance from the launch template on a reserved interface
  const launch = fns['launch-replacement'];
  add(launch, { actions: ['ec2:RunInstances'], resources: [ec2Arn('instance')], conditions: requestTagged });
  add(launch, { actions: ['ec2:RunInstances'], resources: [ec2Arn('network-interface')], conditions: resourceTagged });
  add(launch, {
    actions: ['ec2:RunInstances'],
    resources: [named('launch-template', p.launchTemplateId), ec2Arn('volume'), ec2Arn('image', false), ...network],
  });
  // the request tags the instance; the launch template's tag specifications tag its volumes too
  add(launch, { actions: ['ec2:CreateTags'], resources: [ec2Arn('instance'), ec2Arn('volume')], conditions: { StringEquals: { 'ec2:CreateAction': 'RunInstances' } } });
  acknowledgeWildcard(launch, nagArn('instance'), 'The replacement instance does not exist at deploy time; launching requires the request to tag it squirrel:cluster=<this cluster>, and tagging is allowed only inside that RunInstances call.');
  acknowledgeWildcard(launch, nagArn('network-interface'), 'The reserved interface is created by the failover; attaching it at launch requires its squirrel:cluster tag to name this cluster.');
  acknowledgeWildcard(launch, nagArn('volume'), 'RunInstances creates the root and data volumes of the launch template; they have no id before the call and the request cannot tag them.');
  acknowledgeWildcard(launch, nagArn('image', false), "The AMI is the launch template's (resolved from a public SSM parameter at deploy time, replaced by each new release); the launch template itself is named.");
  add(launch, {
    actions: ['iam:PassRole'],
    resources: [p.instanceRole?.roleArn ?? stack.formatArn({ service: 'iam', region: '', resource: 'role', resourceName: '*' })],
    conditions: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
  });
  if (!p.instanceRole) {
    acknowledgeWildcard(launch, 'arn:<AWS::Partition>:iam::<AWS::AccountId>:role/*', "An existing launch template's instance profile role is not known to this app (give instanceRole to name it); the role may be passed to EC2 only.");
  }

  // fence (fence-old): stop this cluster's instances only
  add(fns['fence-old'], { actions: ['ec2:StopInstances'], resources: [ec2Arn('instance')], conditions: resourceTagged });
  acknowledgeWildcard(fns['fence-old'], nagArn('instance'), "The primary to fence is whichever instance the last failover launched; the stop is allowed only on instances tagged squirrel:cluster=<this cluster>.");

  // describe: DescribeInstanceStatus has no resource-level permission
  for (const file of ['claim-epoch', 'fence-old', 'await-promotion', 'heartbeat-check', 'launch-replacement'] as const) {
    add(fns[file], { actions: ['ec2:DescribeInstanceStatus'], resources: ['*'] });
    acknowledgeWildcard(fns[file], '*', 'ec2:DescribeInstanceStatus (and, for launch-replacement, ec2:DescribeLaunchTemplateVersions: the replacement carries the template\'s boot script) supports no resource-level permission (Resource must be *); it reads state only.');
  }
  add(fns['launch-replacement'], { actions: ['ec2:DescribeLaunchTemplateVersions'], resources: ['*'] });
}

/** move-endpoint: the record's own hosted zone. */
export function grantEndpoint(fn: lambda.IFunction, hostedZoneArn: string): void {
  fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['route53:ChangeResourceRecordSets', 'route53:ListResourceRecordSets'], resources: [hostedZoneArn] }));
}

/**
 * move-endpoint with a secondary-address endpoint (agent/aws/secondary-ip-endpoint.ts): finds the
 * replacement's interface and moves the address to it; only interfaces of this cluster take it.
 */
export function grantSecondaryIpEndpoint(fn: lambda.IFunction, clusterId: string): void {
  const stack = Stack.of(fn);
  fn.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['ec2:AssignPrivateIpAddresses'],
      resources: [stack.formatArn({ service: 'ec2', resource: 'network-interface', resourceName: '*' })],
      conditions: { StringEquals: { [`aws:ResourceTag/${clusterTag}`]: clusterId } },
    }),
  );
  fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['ec2:DescribeNetworkInterfaces'], resources: ['*'] }));
  acknowledgeWildcard(fn, 'arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:network-interface/*', "The primary's interface is the one the last failover reserved (not known at deploy time); the address moves only to interfaces tagged squirrel:cluster=<this cluster>.");
  acknowledgeWildcard(fn, '*', 'ec2:DescribeNetworkInterfaces supports no resource-level permission (Resource must be *); it reads state only.');
}

/** Acknowledges one IAM5 finding on one function, with its reason. */
export function acknowledgeWildcard(fn: lambda.IFunction, resource: string, reason: string): void {
  Validations.of(fn).acknowledge({ id: `AwsSolutions-IAM5[Resource::${resource}]`, reason });
}
