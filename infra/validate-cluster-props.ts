import { Token, type Duration } from 'aws-cdk-lib';
import type { SquirrelClusterProps } from './squirrel-cluster.js';

/**
 * Checks a SquirrelCluster's props before anything is built, so a bad value fails `cdk synth`
 * with the value quoted instead of failing the deployment (or a failover) later. Values that are
 * tokens (known only at deploy time) are left to CloudFormation.
 */
export function validateClusterProps(props: SquirrelClusterProps): void {
  const problems: string[] = [];
  const check = (ok: boolean, what: string, value: unknown) => {
    if (!ok) problems.push(`${what}. Received: ${JSON.stringify(value)}`);
  };
  const literal = (v: string | undefined): v is string => v !== undefined && !Token.isUnresolved(v);

  // the agent's own rule (agent/config.ts): the id is part of S3 keys, item keys and tag values
  check(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(props.clusterId), 'clusterId must be 1-63 letters, digits, _ . - starting with a letter or digit', props.clusterId);
  if (props.prefix !== undefined) check(/^$|^[^/].*\/$/.test(props.prefix), 'prefix must be empty or a key prefix ending in "/" (e.g. "prod/")', props.prefix);
  if (literal(props.subnetId)) check(/^subnet-[0-9a-f]{8,17}$/.test(props.subnetId), 'subnetId must be a subnet id (subnet-0123456789abcdef0)', props.subnetId);
  for (const sg of props.securityGroupIds ?? []) if (literal(sg)) check(/^sg-[0-9a-f]{8,17}$/.test(sg), 'securityGroupIds must be security group ids (sg-0123456789abcdef0)', sg);
  if (literal(props.launchTemplateId)) check(/^lt-[0-9a-f]{8,17}$/.test(props.launchTemplateId), 'launchTemplateId must be a launch template id (lt-0123456789abcdef0)', props.launchTemplateId);
  if (literal(props.hostedZoneId)) check(/^Z[0-9A-Z]{1,32}$/.test(props.hostedZoneId), 'hostedZoneId must be a Route 53 hosted zone id (Z0123456789ABCDEFGHIJ)', props.hostedZoneId);
  if (literal(props.recordDomain)) check(/^(?!-)[a-z0-9-]{1,63}(\.(?!-)[a-z0-9-]{1,63})*$/.test(props.recordDomain), 'recordDomain must be a lowercase DNS name without a trailing dot (db.internal)', props.recordDomain);
  for (const [name, d] of [['staleAfter', props.staleAfter], ['checkEvery', props.checkEvery], ['stagingExpiry', props.stagingExpiry], ['abortIncompleteUploadsAfter', props.abortIncompleteUploadsAfter]] as const) {
    if (d !== undefined && !d.isUnresolved()) check(d.toMilliseconds() > 0, `${name} must be a positive duration`, d.toHumanString());
  }
  if (props.checkEvery && !props.checkEvery.isUnresolved()) check(wholeMinutes(props.checkEvery), 'checkEvery must be whole minutes (an EventBridge schedule rate)', props.checkEvery.toHumanString());

  if (!props.launchTemplateId && !props.vpc) problems.push('give vpc (to create the database host) or launchTemplateId (an existing launch template). Received: neither');
  if (literal(props.endpointAddress)) check(/^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/.test(props.endpointAddress), 'endpointAddress must be an IPv4 address in the subnet of subnetId (10.0.1.50)', props.endpointAddress);
  if (!props.hostedZoneId && !props.vpc && !props.endpointAddress) problems.push('give hostedZoneId (an existing private hosted zone) or vpc (to create one). Received: neither');
  if (problems.length > 0) throw new Error(`SquirrelCluster ${props.clusterId}: invalid props:\n- ${problems.join('\n- ')}`);
}

function wholeMinutes(d: Duration): boolean {
  const ms = d.toMilliseconds();
  return ms > 0 && ms % 60_000 === 0;
}
