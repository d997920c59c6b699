/**
 * SquirrelCluster as CloudFormation: storage, grants and prop validation, checked on the
 * synthesized template (aws-cdk-lib/assertions), one behaviour per test.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { SquirrelCluster, type SquirrelClusterProps } from '../../infra/squirrel-cluster.js';

const base: SquirrelClusterProps = {
  clusterId: 'shop',
  prefix: 'prod/',
  code: lambda.Code.fromInline('// not run'),
  launchTemplateId: 'lt-0123456789abcdef0',
  subnetId: 'subnet-0123456789abcdef0',
  securityGroupIds: ['sg-0123456789abcdef0'],
  hostedZoneId: 'Z0123456789ABCDEFGHIJ',
  recordDomain: 'db.internal',
};

function build(props: Partial<SquirrelClusterProps> = {}, more?: (stack: Stack, cluster: SquirrelCluster) => void): Template {
  const stack = new Stack(new App(), 'Test');
  const cluster = new SquirrelCluster(stack, 'Cluster', { ...base, ...props });
  more?.(stack, cluster);
  return Template.fromStack(stack);
}

type Statement = { Effect: string; Action: string | string[]; Resource: unknown; Condition?: Record<string, unknown> };
const actionsOf = (s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);

/** The statements of the policies attached to the role whose logical id contains `rolePart`. */
function statementsOf(t: Template, rolePart: string): Statement[] {
  return Object.values(t.findResources('AWS::IAM::Policy'))
    .filter((p) => (p.Properties.Roles as { Ref: string }[]).some((r) => r.Ref.includes(rolePart)))
    .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
}

describe('SquirrelCluster storage', () => {
  let t: Template;
  before(() => {
    t = build();
  });

  it('encrypts the bucket with a customer managed key that rotates', () => {
    t.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    const [keyId] = Object.keys(t.findResources('AWS::KMS::Key'));
    t.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: { 'Fn::GetAtt': [keyId, 'Arn'] } }, BucketKeyEnabled: true }] },
    });
  });

  it('blocks public access, keeps versions, logs access to the log bucket, and allows TLS only', () => {
    const buckets = t.findResources('AWS::S3::Bucket', { Properties: { BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms' } }] } } });
    const [dataId, data] = Object.entries(buckets)[0]!;
    assert.deepEqual(data.Properties.PublicAccessBlockConfiguration, { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true });
    assert.deepEqual(data.Properties.VersioningConfiguration, { Status: 'Enabled' });
    assert.ok(data.Properties.LoggingConfiguration.DestinationBucketName.Ref.includes('AccessLogs'));
    assert.deepEqual(data.DeletionPolicy, 'Retain');
    t.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: dataId },
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  });

  it('aborts incomplete uploads after 2 days and expires the staging prefix of agent/keys.ts', () => {
    t.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ Id: 'AbortIncompleteUploads', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 2 }, Status: 'Enabled' }),
          Match.objectLike({ Id: 'ExpireStaging', Prefix: 'prod/shop/staging/', ExpirationInDays: 7, Status: 'Enabled' }),
        ]),
      },
    });
  });

  it('has no Object Lock unless asked, and the asked retention when asked', () => {
    assert.equal(Object.keys(t.findResources('AWS::S3::Bucket', { Properties: { ObjectLockEnabled: true } })).length, 0);
    const locked = build({ objectLockRetention: s3.ObjectLockRetention.governance(Duration.days(30)) });
    locked.hasResourceProperties('AWS::S3::Bucket', { ObjectLockEnabled: true, ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 30 } } } });
  });

  it('keeps the state table on demand, with point-in-time recovery and deletion protection, retained', () => {
    t.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      Properties: {
        BillingMode: 'PAY_PER_REQUEST',
        DeletionProtectionEnabled: true,
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }],
      },
    });
  });

  it('uses a given bucket and table instead of creating them', () => {
    const stack = new Stack(new App(), 'Given');
    const bucket = s3.Bucket.fromBucketName(stack, 'B', 'existing-bucket');
    new SquirrelCluster(stack, 'Cluster', { ...base, bucket });
    const given = Template.fromStack(stack);
    assert.equal(Object.keys(given.findResources('AWS::S3::Bucket')).length, 0);
    assert.equal(Object.keys(given.findResources('AWS::KMS::Key')).length, 0);
  });
});

describe('SquirrelCluster grants', () => {
  let t: Template;
  before(() => {
    t = build({}, (stack, cluster) => {
      const role = new iam.Role(stack, 'AgentRole', { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') });
      cluster.grantAgent(role);
    });
  });

  it("grantAgent gives the cluster's own prefix, items and key, and nothing else", () => {
    const [bucketId] = Object.keys(t.findResources('AWS::S3::Bucket', { Properties: { VersioningConfiguration: { Status: 'Enabled' }, BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms' } }] } } }));
    const [keyId] = Object.keys(t.findResources('AWS::KMS::Key'));
    const [tableId] = Object.keys(t.findResources('AWS::DynamoDB::Table'));
    assert.deepEqual(statementsOf(t, 'AgentRole'), [
      { Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'], Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, '/prod/shop/*']] } },
      { Effect: 'Allow', Action: 's3:ListBucket', Resource: { 'Fn::GetAtt': [bucketId, 'Arn'] }, Condition: { StringLike: { 's3:prefix': ['prod/shop/*'] } } },
      { Effect: 'Allow', Action: ['kms:Decrypt', 'kms:GenerateDataKey'], Resource: { 'Fn::GetAtt': [keyId, 'Arn'] } },
      {
        Effect: 'Allow',
        Action: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:ConditionCheckItem'],
        Resource: { 'Fn::GetAtt': [tableId, 'Arn'] },
        Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['cluster#shop'] } },
      },
    ]);
  });

  it('endpointAddress: the endpoint is a secondary address moved between this cluster\'s interfaces, no hosted zone', () => {
    const t2 = build({ endpointAddress: '10.0.1.50', hostedZoneId: undefined });
    t2.resourceCountIs('AWS::Route53::HostedZone', 0);
    const move = Object.values(t2.findResources('AWS::Lambda::Function')).find((f) => String(f.Properties.Handler).includes('move-endpoint'))!;
    const env = move.Properties.Environment.Variables as Record<string, unknown>;
    assert.equal(env.SQUIRREL_ENDPOINT_ADDRESS, '10.0.1.50');
    assert.equal(env.SQUIRREL_HOSTED_ZONE_ID, undefined);
    const statements = statementsOf(t2, 'HandlersMoveEndpoint');
    const assign = statements.find((x) => actionsOf(x).includes('ec2:AssignPrivateIpAddresses'))!;
    assert.deepEqual(assign.Condition, { StringEquals: { 'aws:ResourceTag/squirrel:cluster': 'shop' } });
    assert.ok(JSON.stringify(assign.Resource).includes(':network-interface/*'));
    assert.ok(!statements.some((x) => actionsOf(x).some((a) => a.startsWith('route53:'))));
  });

  it('fromClusterAttributes: another app grants its hosts the same agent access, by names', () => {
    const stack = new Stack(new App(), 'Hosts');
    const imported = SquirrelCluster.fromClusterAttributes(stack, 'Shop', { clusterId: 'shop', prefix: 'prod/', bucketName: 'shop-chunks', tableName: 'squirrel', bucketKeyArn: 'arn:aws:kms:eu-west-1:111122223333:key/k-1' });
    const role = new iam.Role(stack, 'AgentRole', { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') });
    imported.grantAgent(role);
    const statements = statementsOf(Template.fromStack(stack), 'AgentRole');
    const bucketArn = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::shop-chunks']] };
    assert.deepEqual(statements, [
      { Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'], Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::shop-chunks/prod/shop/*']] } },
      { Effect: 'Allow', Action: 's3:ListBucket', Resource: bucketArn, Condition: { StringLike: { 's3:prefix': ['prod/shop/*'] } } },
      { Effect: 'Allow', Action: ['kms:Decrypt', 'kms:GenerateDataKey'], Resource: 'arn:aws:kms:eu-west-1:111122223333:key/k-1' },
      {
        Effect: 'Allow',
        Action: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:ConditionCheckItem'],
        Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':dynamodb:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':table/squirrel']] },
        Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['cluster#shop'] } },
      },
    ]);
    assert.equal(imported.clusterId, 'shop');
  });

  it('no handler role has a wildcard action, and only the describes without resource-level permissions have Resource *', () => {
    const all = statementsOf(t, 'Handlers');
    assert.ok(all.length > 0);
    for (const s of all) {
      for (const a of actionsOf(s)) assert.ok(!a.includes('*'), `wildcard action ${a}`);
      if (s.Resource === '*') for (const a of actionsOf(s)) assert.ok(['ec2:DescribeInstanceStatus', 'ec2:DescribeLaunchTemplateVersions'].includes(a), `${a} on Resource *`);
    }
    // the launch template's boot script is read by the launch alone
    const readers = all.filter((s) => actionsOf(s).includes('ec2:DescribeLaunchTemplateVersions'));
    assert.deepEqual(readers, statementsOf(t, 'HandlersLaunchReplacement').filter((s) => actionsOf(s).includes('ec2:DescribeLaunchTemplateVersions')));
    assert.equal(readers.length, 1);
  });

  it("handlers touch only their cluster's items", () => {
    const dynamo = statementsOf(t, 'Handlers').filter((s) => actionsOf(s).some((a) => a.startsWith('dynamodb:')));
    assert.equal(dynamo.length, 9);
    for (const s of dynamo) assert.deepEqual(s.Condition, { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['cluster#shop'] } });
  });

  it("fencing stops only instances tagged with this cluster; launching and reserving must tag what they create", () => {
    const fence = statementsOf(t, 'HandlersFenceOld').find((s) => actionsOf(s).includes('ec2:StopInstances'))!;
    assert.deepEqual(fence.Condition, { StringEquals: { 'aws:ResourceTag/squirrel:cluster': 'shop' } });
    const launch = statementsOf(t, 'HandlersLaunchReplacement').filter((s) => actionsOf(s).includes('ec2:RunInstances'));
    const onInstances = launch.find((s) => JSON.stringify(s.Resource).includes(':instance/*'))!;
    assert.deepEqual(onInstances.Condition, { StringEquals: { 'aws:RequestTag/squirrel:cluster': 'shop' } });
    const onInterfaces = launch.find((s) => JSON.stringify(s.Resource).includes(':network-interface/*'))!;
    assert.deepEqual(onInterfaces.Condition, { StringEquals: { 'aws:ResourceTag/squirrel:cluster': 'shop' } });
    assert.ok(launch.some((s) => JSON.stringify(s.Resource).includes(':launch-template/lt-0123456789abcdef0')));
    const reserve = statementsOf(t, 'HandlersClaimEpoch').filter((s) => actionsOf(s).includes('ec2:CreateNetworkInterface'));
    assert.ok(reserve.some((s) => JSON.stringify(s.Condition) === JSON.stringify({ StringEquals: { 'aws:RequestTag/squirrel:cluster': 'shop' } })));
    const tags = statementsOf(t, 'Handlers').filter((s) => actionsOf(s).includes('ec2:CreateTags'));
    assert.equal(tags.length, 2);
    for (const s of tags) assert.ok(s.Condition?.StringEquals && 'ec2:CreateAction' in (s.Condition.StringEquals as object));
  });

  it('passes only the given instance role, and only to EC2', () => {
    const wide = statementsOf(t, 'HandlersLaunchReplacement').find((s) => actionsOf(s).includes('iam:PassRole'))!;
    assert.deepEqual(wide.Condition, { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } });
    const stack = new Stack(new App(), 'Role');
    const instanceRole = iam.Role.fromRoleArn(stack, 'R', 'arn:aws:iam::123456789012:role/db-host');
    new SquirrelCluster(stack, 'Cluster', { ...base, instanceRole });
    const pass = statementsOf(Template.fromStack(stack), 'HandlersLaunchReplacement').find((s) => actionsOf(s).includes('iam:PassRole'))!;
    assert.equal(pass.Resource, 'arn:aws:iam::123456789012:role/db-host');
  });

  it("moves the endpoint in the record's own hosted zone only", () => {
    const [s] = statementsOf(t, 'HandlersMoveEndpoint').filter((x) => actionsOf(x).some((a) => a.startsWith('route53:')));
    assert.deepEqual(s!.Resource, { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':route53:::hostedzone/Z0123456789ABCDEFGHIJ']] });
  });
});

describe('SquirrelCluster props', () => {
  const cases: [string, Partial<SquirrelClusterProps>, string][] = [
    ['a clusterId with bad characters', { clusterId: 'shop floor!' }, 'clusterId must be 1-63 letters, digits, _ . - starting with a letter or digit. Received: "shop floor!"'],
    ['a subnet id that is not subnet-…', { subnetId: 'net-1234' }, 'subnetId must be a subnet id (subnet-0123456789abcdef0). Received: "net-1234"'],
    ['a security group id that is not sg-…', { securityGroupIds: ['group-1'] }, 'Received: "group-1"'],
    ['a launch template id that is not lt-…', { launchTemplateId: 'template' }, 'Received: "template"'],
    ['a prefix without its trailing slash', { prefix: 'prod' }, 'Received: "prod"'],
    ['an endpoint address that is not IPv4', { endpointAddress: '10.0.1.500' }, 'endpointAddress must be an IPv4 address in the subnet of subnetId (10.0.1.50). Received: "10.0.1.500"'],
    ['a non-positive staleAfter', { staleAfter: Duration.seconds(0) }, 'staleAfter must be a positive duration. Received: "0 seconds"'],
    ['a check interval that is not whole minutes', { checkEvery: Duration.seconds(90) }, 'checkEvery must be whole minutes'],
    ['a hosted zone id that is not one', { hostedZoneId: 'zone' }, 'Received: "zone"'],
  ];
  for (const [what, props, message] of cases) {
    it(`fails synth on ${what}, quoting the value`, () => {
      assert.throws(() => build(props), (err: Error) => err.message.includes(message) || assert.fail(`${err.message}\n does not include\n${message}`));
    });
  }

  it('accepts the defaults', () => {
    assert.doesNotThrow(() => build());
  });
});
