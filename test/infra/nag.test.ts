/**
 * cdk-nag's AwsSolutions checks pass on the cluster with a database host, both with the storage
 * it creates and with a bucket it is given: every finding is acknowledged on its own resource.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { App, Stack, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { SquirrelCluster } from '../../infra/squirrel-cluster.js';

describe('cdk-nag', () => {
  const out = mkdtempSync(join(tmpdir(), 'squirrel-nag-'));
  after(() => rmSync(out, { recursive: true, force: true }));

  function synth(given: boolean): void {
    const app = new App({ outdir: join(out, String(given)) });
    const stack = new Stack(app, 'Nag');
    new SquirrelCluster(stack, 'Cluster', {
      clusterId: 'shop',
      prefix: 'prod/',
      code: lambda.Code.fromInline('// not run'),
      vpc: ec2.Vpc.fromVpcAttributes(stack, 'Vpc', { vpcId: 'vpc-0123456789abcdef0', availabilityZones: ['us-east-1a'] }),
      databaseClients: ec2.Peer.ipv4('10.1.0.0/16'),
      subnetId: 'subnet-0123456789abcdef0',
      recordDomain: 'db.internal',
      ...(given ? { bucket: s3.Bucket.fromBucketName(stack, 'Given', 'existing-squirrel-bucket') } : {}),
    });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    app.synth();
  }

  it('passes AwsSolutions on the cluster with its host and the storage it creates', () => {
    assert.doesNotThrow(() => synth(false));
  });

  it('passes AwsSolutions with a given bucket (the agent prefix acknowledged on the given ARN)', () => {
    assert.doesNotThrow(() => synth(true));
  });
});
