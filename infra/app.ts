import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { SquirrelStack } from './stack.js';

/**
 * The CDK app (`cdk.json`: node dist/infra/app.js). Each deployment's settings come from CDK
 * context (`-c clusterId=… -c launchTemplateId=…`); synth works offline with the placeholders.
 * The Lambda handlers are bundled from lambdas/ by the local esbuild during synth (no Docker).
 */
const app = new App();
const ctx = (key: string, placeholder: string): string => (app.node.tryGetContext(key) as string | undefined) ?? placeholder;
new SquirrelStack(app, ctx('stackName', 'Squirrel'), {
  cluster: {
    clusterId: ctx('clusterId', 'demo'),
    prefix: ctx('prefix', ''),
    launchTemplateId: ctx('launchTemplateId', 'lt-00000000000000000'),
    subnetId: ctx('subnetId', 'subnet-00000000000000000'),
    securityGroupIds: ctx('securityGroupIds', 'sg-00000000000000000').split(','),
    hostedZoneId: ctx('hostedZoneId', 'Z0000000000000000000'),
    recordDomain: ctx('recordDomain', 'db.internal'),
  },
});
// cdk-nag on the whole app: a finding fails the synth unless acknowledged on its resource, with a reason
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
