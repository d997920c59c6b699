import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SquirrelStack } from './stack.js';
import type { SquirrelClusterProps } from './squirrel-cluster.js';

/** A CloudFormation template, as synthesized. */
export type Template = { Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }> };

/**
 * The control plane's template, synthesized in process (what `cdk synth` writes, without the
 * Lambda asset: the code does not change a state machine). The local runner executes the state
 * machines of this template. Offline: no lookups, no bundling.
 */
export function synthesizeControlPlane(cluster: Partial<SquirrelClusterProps> = {}): Template {
  const outdir = mkdtempSync(join(tmpdir(), 'squirrel-synth-'));
  try {
    const app = new App({ outdir });
    const stack = new SquirrelStack(app, 'SquirrelLocal', {
      cluster: {
        clusterId: 'local',
        code: lambda.Code.fromInline('// the local runner calls the handlers in process'),
        launchTemplateId: 'lt-00000000000000000',
        subnetId: 'subnet-00000000000000000',
        securityGroupIds: ['sg-00000000000000000'],
        hostedZoneId: 'Z0000000000000000000',
        recordDomain: 'db.local',
        ...cluster,
      },
    });
    // the same checks as `cdk synth` (app.ts): a finding throws here too
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    return app.synth().getStackArtifact(stack.artifactId).template as Template;
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}
