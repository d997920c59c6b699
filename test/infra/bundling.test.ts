/**
 * `cdk deploy` ships the handlers bundled at synth time by the local esbuild: one ES module per
 * handler file, loadable by Node without node_modules, and the functions still name
 * `lambdas/<file>.handler` (what the local runner maps back to its file).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { DatabaseHost } from '../../infra/database-host.js';
import { bundledHandlers, handlerFiles } from '../../infra/control-functions.js';
import { SquirrelCluster } from '../../infra/squirrel-cluster.js';

describe('handler bundling', () => {
  const out = mkdtempSync(join(tmpdir(), 'squirrel-bundle-'));
  let template: Template;
  let assetDir: string;
  before(() => {
    const app = new App({ outdir: out });
    const stack = new Stack(app, 'Bundled');
    new SquirrelCluster(stack, 'Cluster', {
      clusterId: 'shop',
      code: bundledHandlers(),
      launchTemplateId: 'lt-0123456789abcdef0',
      subnetId: 'subnet-0123456789abcdef0',
      securityGroupIds: ['sg-0123456789abcdef0'],
      hostedZoneId: 'Z0123456789ABCDEFGHIJ',
      recordDomain: 'db.internal',
    });
    template = Template.fromStack(stack);
    const assets = readdirSync(out).filter((d) => d.startsWith('asset.'));
    assert.equal(assets.length, 1, 'one asset shared by every handler');
    assetDir = join(out, assets[0]!);
  });
  after(() => rmSync(out, { recursive: true, force: true }));

  it('writes one ES module per handler file, each exporting its handler without node_modules', async () => {
    for (const file of handlerFiles) {
      const path = join(assetDir, 'lambdas', `${file}.mjs`);
      assert.ok(existsSync(path), path);
      const mod = (await import(path)) as { handler?: unknown };
      assert.equal(typeof mod.handler, 'function', file);
    }
    assert.ok(!existsSync(join(assetDir, 'node_modules')));
  });

  it('deploys every function on nodejs22.x from that asset, named lambdas/<file>.handler', () => {
    const fns = Object.values(template.findResources('AWS::Lambda::Function'));
    assert.equal(fns.length, handlerFiles.length);
    for (const f of fns) {
      assert.equal(f.Properties.Runtime, 'nodejs22.x');
      assert.match(f.Properties.Handler as string, /^lambdas\/[a-z0-9-]+\.handler$/);
      assert.ok(JSON.stringify(f.Properties.Code.S3Key).includes(assetDir.split('asset.')[1]!));
    }
  });
});

describe('agent bundling', () => {
  const out = mkdtempSync(join(tmpdir(), 'squirrel-agent-bundle-'));
  after(() => rmSync(out, { recursive: true, force: true }));

  it('bundles the agent into one ES module that runs as `squirrel` without node_modules', () => {
    const app = new App({ outdir: out });
    const stack = new Stack(app, 'Agent');
    const host = new DatabaseHost(stack, 'Host', {
      clusterId: 'shop',
      vpc: ec2.Vpc.fromVpcAttributes(stack, 'Vpc', { vpcId: 'vpc-0123456789abcdef0', availabilityZones: ['us-east-1a'] }),
      bucketName: 'bucket',
      prefix: '',
      tableName: 'table',
    });
    app.synth();
    const dir = join(out, `asset.${host.agentAsset.assetHash}`);
    // named main.js: instance-job runs the agent as `../cli/main.js` relative to itself
    const main = join(dir, 'dist', 'agent', 'cli', 'main.js');
    assert.ok(existsSync(main), main);
    assert.deepEqual(readdirSync(dir).sort(), ['dist', 'package.json']);
    const version = execFileSync(process.execPath, [main, '--version'], { cwd: tmpdir(), encoding: 'utf8' }).trim();
    assert.match(version, /^\d+\.\d+\.\d+$/);
    const help = execFileSync(process.execPath, [main, '--help'], { cwd: tmpdir(), encoding: 'utf8' });
    assert.match(help, /instance-job/);
  });
});
