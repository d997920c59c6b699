import { App, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { AwsSolutionsChecks } from 'cdk-nag';
import { SquirrelStack } from './stack.js';

/**
 * The CDK app (`cdk.json`: node dist/infra/app.js). Each deployment's settings come from CDK
 * context (`-c clusterId=shop -c vpcId=vpc-… -c subnetId=subnet-… -c clientCidr=10.0.0.0/16`);
 * synth works offline with the placeholders. Without `launchTemplateId` the app creates the
 * database host (launch template, role, security group, credentials, the agent as an asset);
 * without `hostedZoneId`, a private hosted zone `recordDomain` in the VPC. The Lambda handlers
 * and the agent are bundled by the local esbuild during synth (no Docker, no network).
 */
const app = new App();
const ctx = (key: string): string | undefined => app.node.tryGetContext(key) as string | undefined;
const list = (key: string): string[] | undefined => ctx(key)?.split(',').filter(Boolean);
const clientCidr = ctx('clientCidr');
new SquirrelStack(app, ctx('stackName') ?? 'Squirrel', {
  vpcId: ctx('vpcId') ?? 'vpc-00000000000000000',
  cluster: {
    clusterId: ctx('clusterId') ?? 'demo',
    prefix: ctx('prefix') ?? '',
    launchTemplateId: ctx('launchTemplateId'),
    subnetId: ctx('subnetId') ?? 'subnet-00000000000000000',
    securityGroupIds: list('securityGroupIds'),
    hostedZoneId: ctx('hostedZoneId'),
    recordDomain: ctx('recordDomain') ?? 'db.internal',
    databaseClients: clientCidr ? ec2.Peer.ipv4(clientCidr) : undefined,
  },
});
// cdk-nag on the whole app: a finding fails the synth unless acknowledged on its resource, with a reason
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
