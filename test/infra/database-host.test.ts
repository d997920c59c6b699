/**
 * The database host as CloudFormation: a launch template the control plane can launch
 * replacements from (no network interfaces, no security groups of its own), hardened (IMDSv2,
 * encrypted disk), booting the agent from an S3 asset with its config and credentials, and a
 * role that reads only what the host needs.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SquirrelCluster } from '../../infra/squirrel-cluster.js';

type Statement = { Effect: string; Action: string | string[]; Resource: unknown; Condition?: Record<string, unknown> };

describe('SquirrelCluster with a database host', () => {
  let t: Template;
  before(() => {
    const stack = new Stack(new App(), 'Host');
    const vpc = ec2.Vpc.fromVpcAttributes(stack, 'Vpc', { vpcId: 'vpc-0123456789abcdef0', availabilityZones: ['us-east-1a'] });
    new SquirrelCluster(stack, 'Cluster', {
      clusterId: 'shop',
      code: lambda.Code.fromInline('// not run'),
      vpc,
      databaseClients: ec2.Peer.ipv4('10.1.0.0/16'),
      subnetId: 'subnet-0123456789abcdef0',
      recordDomain: 'db.internal',
    });
    t = Template.fromStack(stack);
  });

  const ltId = () => Object.keys(t.findResources('AWS::EC2::LaunchTemplate'))[0]!;
  const ltData = () => Object.values(t.findResources('AWS::EC2::LaunchTemplate'))[0]!.Properties.LaunchTemplateData as Record<string, unknown>;
  const userData = () => JSON.stringify(ltData().UserData);

  it('names no network interface and no security group in the launch template (compute attaches a reserved interface)', () => {
    assert.equal(ltData().NetworkInterfaces, undefined);
    assert.equal(ltData().SecurityGroupIds, undefined);
    assert.equal(ltData().SecurityGroups, undefined);
  });

  it('requires IMDSv2, encrypts the disk, and boots the AL2023 AMI of the public SSM parameter', () => {
    assert.deepEqual(ltData().MetadataOptions, { HttpPutResponseHopLimit: 1, HttpTokens: 'required' });
    assert.deepEqual(ltData().BlockDeviceMappings, [{ DeviceName: '/dev/xvda', Ebs: { DeleteOnTermination: true, Encrypted: true, VolumeSize: 100, VolumeType: 'gp3' } }]);
    const params = t.toJSON().Parameters as Record<string, { Default: string }>;
    assert.ok(Object.values(params).some((p) => p.Default === '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64'));
  });

  it('tags what it launches with the cluster, so fencing may stop the first primary', () => {
    const specs = ltData().TagSpecifications as { ResourceType: string; Tags: { Key: string; Value: string }[] }[];
    const instance = specs.find((s) => s.ResourceType === 'instance')!;
    assert.ok(instance.Tags.some((tag) => tag.Key === 'squirrel:cluster' && tag.Value === 'shop'));
  });

  it('wires the launch template, its security group and the new zone into the handlers', () => {
    t.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          SQUIRREL_LAUNCH_TEMPLATE_ID: { Ref: ltId() },
          SQUIRREL_SECURITY_GROUP_IDS: { 'Fn::GetAtt': [Object.keys(t.findResources('AWS::EC2::SecurityGroup'))[0]!, 'GroupId'] },
          SQUIRREL_HOSTED_ZONE_ID: { Ref: Object.keys(t.findResources('AWS::Route53::HostedZone'))[0]! },
        }),
      },
    });
    t.hasResourceProperties('AWS::Route53::HostedZone', { Name: 'db.internal.', VPCs: [{ VPCId: 'vpc-0123456789abcdef0' }] });
  });

  it('lets MariaDB clients in from the given peer only, and the host out over HTTPS only', () => {
    t.hasResourceProperties('AWS::EC2::SecurityGroup', {
      SecurityGroupIngress: [{ CidrIp: '10.1.0.0/16', FromPort: 3306, ToPort: 3306, IpProtocol: 'tcp', Description: 'MariaDB clients' }],
      SecurityGroupEgress: [{ CidrIp: '0.0.0.0/0', FromPort: 443, ToPort: 443, IpProtocol: 'tcp', Description: 'AWS APIs and package mirrors over HTTPS' }],
    });
  });

  it('boots: installs MariaDB and the agent from the S3 asset, writes /etc/squirrel/config.yaml, runs squirrel agent under systemd', () => {
    const ud = userData();
    assert.match(ud, /dnf install -y mariadb105-server/);
    assert.match(ud, /aws s3 cp 's3:\/\//);
    assert.match(ud, /unzip -o -q \/tmp\/[0-9a-f]+\.zip -d \/opt\/squirrel/);
    assert.match(ud, /\/usr\/local\/bin\/squirrel/);
    assert.match(ud, /cat > \/etc\/squirrel\/config.yaml/);
    for (const key of ['clusterId: shop', 'bucket: ', 'table: ', 'region: ', 'mysqlUrl: mysql://squirrel:${AGENT_PASSWORD}@127.0.0.1:3306']) assert.ok(ud.includes(key), key);
    assert.match(ud, /ExecStart=\/usr\/local\/bin\/squirrel agent --config \/etc\/squirrel\/config.yaml/);
    assert.match(ud, /systemctl enable --now squirrel-agent/);
    // a replacement (its user data wrote the job first) runs the instance job instead, and only then
    const at = (text: string) => ud.indexOf(text);
    assert.ok(at('if [ -s /etc/squirrel/job.json ]; then') >= 0);
    assert.ok(at('squirrel instance-job --config /etc/squirrel/config.yaml --dir /var/lib/squirrel/instance --job /etc/squirrel/job.json') > at('if [ -s /etc/squirrel/job.json ]; then'));
    assert.ok(at('systemctl enable --now squirrel-instance-job') < at('else'));
    assert.ok(at('systemctl enable --now squirrel-agent') > at('else'));
    assert.ok(!/password: [A-Za-z0-9]{32}/.test(ud), 'no password in user data');
  });

  it('generates the credentials at deploy time and lets only the host role read them', () => {
    const secrets = t.findResources('AWS::SecretsManager::Secret');
    assert.equal(Object.keys(secrets).length, 2);
    for (const s of Object.values(secrets)) assert.equal(s.Properties.GenerateSecretString.GenerateStringKey, 'password');
    const readers = Object.values(t.findResources('AWS::IAM::Policy')).filter((p) => JSON.stringify(p).includes('secretsmanager:GetSecretValue'));
    assert.equal(readers.length, 1);
    assert.ok(JSON.stringify(readers[0]!.Properties.Roles).includes('ClusterHostRole'));
  });

  it("gives the host role the agent's grants, the secrets and its own asset object, without wildcard actions", () => {
    const [policy] = Object.values(t.findResources('AWS::IAM::Policy')).filter((p) => JSON.stringify(p.Properties.Roles).includes('ClusterHostRole'));
    const statements = policy!.Properties.PolicyDocument.Statement as Statement[];
    const actions = statements.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));
    for (const a of actions) assert.ok(!a.includes('*'), a);
    assert.deepEqual(new Set(actions), new Set(['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts', 's3:ListBucket', 'kms:Decrypt', 'kms:GenerateDataKey', 'dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:ConditionCheckItem', 'secretsmanager:GetSecretValue']));
    for (const s of statements) assert.notEqual(s.Resource, '*');
    const asset = statements.filter((s) => s.Action === 's3:GetObject' && JSON.stringify(s.Resource).includes('.zip'));
    assert.equal(asset.length, 1);
  });

  it('passes the host role, and only it, to EC2', () => {
    const [policy] = Object.values(t.findResources('AWS::IAM::Policy')).filter((p) => JSON.stringify(p.Properties.Roles).includes('LaunchReplacement'));
    const pass = (policy!.Properties.PolicyDocument.Statement as Statement[]).find((s) => s.Action === 'iam:PassRole')!;
    assert.deepEqual(pass.Resource, { 'Fn::GetAtt': [Object.keys(t.findResources('AWS::IAM::Role')).find((id) => id.startsWith('ClusterHostRole'))!, 'Arn'] });
  });

  it('refuses to synthesize without a VPC or an existing launch template', () => {
    const stack = new Stack(new App(), 'Neither');
    assert.throws(
      () => new SquirrelCluster(stack, 'Cluster', { clusterId: 'shop', code: lambda.Code.fromInline('//'), subnetId: 'subnet-0123456789abcdef0', hostedZoneId: 'Z0123456789ABCDEFGHIJ', recordDomain: 'db.internal' }),
      /give vpc \(to create the database host\) or launchTemplateId/,
    );
  });
});
