/**
 * The AWS adapters of the control plane's ports, against aws-sdk-client-mock: each test asserts
 * the exact commands sent and their parameters.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { AssignPrivateIpAddressesCommand, CreateNetworkInterfaceCommand, DescribeInstanceStatusCommand, DescribeLaunchTemplateVersionsCommand, DescribeNetworkInterfacesCommand, EC2Client, RunInstancesCommand, StopInstancesCommand } from '@aws-sdk/client-ec2';
import { ChangeResourceRecordSetsCommand, ListResourceRecordSetsCommand, Route53Client } from '@aws-sdk/client-route-53';
import { ExecutionAlreadyExists, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient, type AwsStub } from 'aws-sdk-client-mock';
import { Ec2Compute } from '../../../agent/aws/ec2-compute.js';
import { Route53Endpoint } from '../../../agent/aws/route53-endpoint.js';
import { SecondaryIpEndpoint } from '../../../agent/aws/secondary-ip-endpoint.js';
import { SfnStarter } from '../../../agent/aws/sfn-starter.js';
import { SnsNotifier } from '../../../agent/aws/sns-notifier.js';
import { clientToken } from '../../../agent/aws/client-token.js';

// the SDK warns on Node 20 at every client; squirrel runs on 20 and 22 (agent/wiring.ts does the same)
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const region = { region: 'eu-west-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } };
/** Every call the stub got: [command name, input]. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const sent = (stub: AwsStub<any, any, any>) => stub.calls().map((c) => [c.args[0].constructor.name, c.args[0].input]);
const awsError = (name: string) => Object.assign(new Error(`${name} (mocked)`), { name });

describe('Ec2Compute', () => {
  const ec2 = mockClient(EC2Client);
  afterEach(() => ec2.reset());
  const compute = () => new Ec2Compute(new EC2Client(region), { launchTemplateId: 'lt-1', subnetId: 'subnet-1', securityGroupIds: ['sg-1', 'sg-2'] });
  const tags = [
    { Key: 'squirrel:cluster', Value: 'shop' },
    { Key: 'squirrel:epoch', Value: '5' },
  ];

  it('reserves the address as a network interface, idempotent by client token', async () => {
    ec2.on(CreateNetworkInterfaceCommand).resolves({ NetworkInterface: { NetworkInterfaceId: 'eni-1', PrivateIpAddress: '10.0.1.23' } });
    assert.deepEqual(await compute().reserve({ clusterId: 'shop', epoch: 5, token: 'failover-shop-epoch-4' }), { id: 'eni-1', identity: { host: '10.0.1.23', port: 3306 } });
    assert.deepEqual(sent(ec2), [
      [
        'CreateNetworkInterfaceCommand',
        { SubnetId: 'subnet-1', Groups: ['sg-1', 'sg-2'], Description: 'squirrel shop epoch 5', ClientToken: 'failover-shop-epoch-4', TagSpecifications: [{ ResourceType: 'network-interface', Tags: tags }] },
      ],
    ]);
  });

  const templateScript = '#!/bin/bash\nset -euo pipefail\ndnf install -y mariadb105-server\nif [ -s /etc/squirrel/job.json ]; then systemctl enable --now squirrel-instance-job; fi\n';

  it('launches from the launch template on the reserved interface, with user data that writes the job and then runs the template\'s own boot script', async () => {
    ec2.on(DescribeLaunchTemplateVersionsCommand).resolves({ LaunchTemplateVersions: [{ LaunchTemplateData: { UserData: Buffer.from(templateScript).toString('base64') } }] });
    ec2.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: 'i-new' }] });
    const reservation = { id: 'eni-1', identity: { host: '10.0.1.23', port: 3306 } };
    const c = compute();
    const launched = await c.launch({ clusterId: 'shop', epoch: 5, reservation, job: { kind: 'restore-and-promote', target: 'latest' }, token: 'failover-shop-epoch-4' });
    assert.deepEqual(launched, { instanceId: 'i-new', identity: reservation.identity });
    const [[describe, describeInput], [name, input]] = sent(ec2) as [[string, Record<string, unknown>], [string, Record<string, unknown>]];
    assert.deepEqual([describe, describeInput], ['DescribeLaunchTemplateVersionsCommand', { LaunchTemplateId: 'lt-1', Versions: ['$Latest'] }]);
    assert.equal(name, 'RunInstancesCommand');
    const userData = Buffer.from(input.UserData as string, 'base64').toString();
    assert.deepEqual({ ...input, UserData: '(below)' }, {
      LaunchTemplate: { LaunchTemplateId: 'lt-1', Version: '$Latest' },
      MinCount: 1,
      MaxCount: 1,
      ClientToken: 'failover-shop-epoch-4',
      NetworkInterfaces: [{ DeviceIndex: 0, NetworkInterfaceId: 'eni-1' }],
      UserData: '(below)',
      TagSpecifications: [{ ResourceType: 'instance', Tags: tags }],
    });
    const job = { clusterId: 'shop', epoch: 5, primary: reservation.identity, job: { kind: 'restore-and-promote', target: 'latest' } };
    assert.equal(
      userData,
      `#!/bin/bash\nset -euo pipefail\nmkdir -p /etc/squirrel\ncat > /etc/squirrel/job.json <<'SQUIRREL_JOB'\n${JSON.stringify(job)}\nSQUIRREL_JOB\n${templateScript.slice('#!/bin/bash\n'.length)}`,
    );
    // the template is read once per process
    await c.launch({ clusterId: 'shop', epoch: 6, reservation, job: { kind: 'restore-only', target: 'latest' }, token: 'restore-x' });
    assert.equal(sent(ec2).filter(([n]) => n === 'DescribeLaunchTemplateVersionsCommand').length, 1);
  });

  it('a launch template without user data (an image with squirrel installed): the user data runs the job directly', async () => {
    ec2.on(DescribeLaunchTemplateVersionsCommand).resolves({ LaunchTemplateVersions: [{ LaunchTemplateData: {} }] });
    ec2.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: 'i-new' }] });
    const reservation = { id: 'eni-1', identity: { host: '10.0.1.23', port: 3306 } };
    await compute().launch({ clusterId: 'shop', epoch: 5, reservation, job: { kind: 'restore-and-promote', target: 'latest' }, token: 't' });
    const input = (sent(ec2)[1] as [string, Record<string, unknown>])[1];
    const userData = Buffer.from(input.UserData as string, 'base64').toString();
    assert.match(userData, /^#!\/bin\/bash\nset -euo pipefail\nmkdir -p \/etc\/squirrel\ncat > \/etc\/squirrel\/job.json <<'SQUIRREL_JOB'\n\{.*\}\nSQUIRREL_JOB\nexec squirrel instance-job --config \/etc\/squirrel\/config.yaml --dir \/var\/lib\/squirrel\/instance --job \/etc\/squirrel\/job.json\n$/);
  });

  it('a token longer than EC2 allows becomes its SHA-256, the same on every repeat', () => {
    const long = `failover-${'x'.repeat(70)}`;
    assert.equal(clientToken(long).length, 64);
    assert.equal(clientToken(long), clientToken(long));
    assert.equal(clientToken('short'), 'short');
  });

  it('stops with Force', async () => {
    ec2.on(StopInstancesCommand).resolves({});
    await compute().stop('i-old', { force: true });
    assert.deepEqual(sent(ec2), [['StopInstancesCommand', { InstanceIds: ['i-old'], Force: true }]]);
  });

  it('stopping a terminated instance is no error', async () => {
    ec2.on(StopInstancesCommand).rejects(awsError('IncorrectInstanceState'));
    ec2.on(DescribeInstanceStatusCommand).resolves({ InstanceStatuses: [{ InstanceState: { Name: 'terminated', Code: 48 } }] });
    await compute().stop('i-old', { force: true });
    assert.deepEqual(sent(ec2), [
      ['StopInstancesCommand', { InstanceIds: ['i-old'], Force: true }],
      ['DescribeInstanceStatusCommand', { InstanceIds: ['i-old'], IncludeAllInstances: true }],
    ]);
  });

  it('describes with IncludeAllInstances (stopped ones too); an unknown id is missing', async () => {
    ec2.on(DescribeInstanceStatusCommand, { InstanceIds: ['i-1'] }).resolves({ InstanceStatuses: [{ InstanceState: { Name: 'running', Code: 16 } }] });
    ec2.on(DescribeInstanceStatusCommand, { InstanceIds: ['i-2'] }).resolves({ InstanceStatuses: [{ InstanceState: { Name: 'shutting-down', Code: 32 } }] });
    ec2.on(DescribeInstanceStatusCommand, { InstanceIds: ['i-3'] }).rejects(awsError('InvalidInstanceID.NotFound'));
    const c = compute();
    assert.deepEqual([await c.describe('i-1'), await c.describe('i-2'), await c.describe('i-3')], ['running', 'stopping', 'missing']);
    assert.deepEqual(sent(ec2)[0], ['DescribeInstanceStatusCommand', { InstanceIds: ['i-1'], IncludeAllInstances: true }]);
  });
});

describe('SecondaryIpEndpoint', () => {
  // its own EC2 mock, made when its tests run (Ec2Compute's is made when the file loads)
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let ec2: AwsStub<any, any, any>;
  before(() => (ec2 = mockClient(EC2Client)));
  after(() => ec2.restore());
  afterEach(() => ec2.reset());
  const endpoint = () => new SecondaryIpEndpoint(new EC2Client(region), { address: '10.0.1.50' });
  const filter = (address: string) => ({ Filters: [{ Name: 'addresses.private-ip-address', Values: [address] }] });

  it("moves the address to the interface whose primary address is the new primary's, taking it from the old one", async () => {
    ec2.on(DescribeNetworkInterfacesCommand).resolves({ NetworkInterfaces: [{ NetworkInterfaceId: 'eni-new', PrivateIpAddress: '10.0.1.23', PrivateIpAddresses: [{ PrivateIpAddress: '10.0.1.23', Primary: true }] }] });
    ec2.on(AssignPrivateIpAddressesCommand).resolves({});
    await endpoint().point('shop', { host: '10.0.1.23', port: 3306 });
    assert.deepEqual(sent(ec2), [
      ['DescribeNetworkInterfacesCommand', filter('10.0.1.23')],
      ['AssignPrivateIpAddressesCommand', { NetworkInterfaceId: 'eni-new', PrivateIpAddresses: ['10.0.1.50'], AllowReassignment: true }],
    ]);
  });

  it('is idempotent: an interface that holds the address already is left alone', async () => {
    ec2.on(DescribeNetworkInterfacesCommand).resolves({ NetworkInterfaces: [{ NetworkInterfaceId: 'eni-new', PrivateIpAddress: '10.0.1.23', PrivateIpAddresses: [{ PrivateIpAddress: '10.0.1.23' }, { PrivateIpAddress: '10.0.1.50' }] }] });
    await endpoint().point('shop', { host: '10.0.1.23', port: 3306 });
    assert.deepEqual(sent(ec2), [['DescribeNetworkInterfacesCommand', filter('10.0.1.23')]]);
  });

  it('refuses another port, and a target no interface has as its primary address, moving nothing', async () => {
    await assert.rejects(endpoint().point('shop', { host: '10.0.1.23', port: 3307 }), /serves port 3306 only/);
    ec2.on(DescribeNetworkInterfacesCommand).resolves({ NetworkInterfaces: [{ NetworkInterfaceId: 'eni-x', PrivateIpAddress: '10.0.1.99', PrivateIpAddresses: [{ PrivateIpAddress: '10.0.1.99' }, { PrivateIpAddress: '10.0.1.23' }] }] });
    await assert.rejects(endpoint().point('shop', { host: '10.0.1.23', port: 3306 }), /no network interface has 10\.0\.1\.23 as its primary address/);
    assert.ok(!sent(ec2).some(([n]) => n === 'AssignPrivateIpAddressesCommand'));
  });

  it('current: the primary address of the interface that holds the endpoint address', async () => {
    ec2.on(DescribeNetworkInterfacesCommand).resolves({ NetworkInterfaces: [{ NetworkInterfaceId: 'eni-new', PrivateIpAddress: '10.0.1.23' }] });
    assert.deepEqual(await endpoint().current(), { host: '10.0.1.23', port: 3306 });
    assert.deepEqual(sent(ec2), [['DescribeNetworkInterfacesCommand', filter('10.0.1.50')]]);
    ec2.reset();
    ec2.on(DescribeNetworkInterfacesCommand).resolves({ NetworkInterfaces: [] });
    assert.equal(await endpoint().current(), undefined);
  });
});

describe('Route53Endpoint', () => {
  const r53 = mockClient(Route53Client);
  afterEach(() => r53.reset());
  const endpoint = () => new Route53Endpoint(new Route53Client(region), { hostedZoneId: 'Z1', recordName: (c) => `${c}.db.internal` });

  it('UPSERTs the private A record with a short TTL', async () => {
    r53.on(ChangeResourceRecordSetsCommand).resolves({ ChangeInfo: { Id: 'c1', Status: 'PENDING', SubmittedAt: new Date() } });
    await endpoint().point('shop', { host: '10.0.1.23', port: 3306 });
    assert.deepEqual(sent(r53), [
      [
        'ChangeResourceRecordSetsCommand',
        {
          HostedZoneId: 'Z1',
          ChangeBatch: { Comment: 'squirrel shop: primary 10.0.1.23', Changes: [{ Action: 'UPSERT', ResourceRecordSet: { Name: 'shop.db.internal', Type: 'A', TTL: 5, ResourceRecords: [{ Value: '10.0.1.23' }] } }] },
        },
      ],
    ]);
  });

  it('a host name becomes a CNAME; a port other than the endpoint\'s is refused', async () => {
    r53.on(ChangeResourceRecordSetsCommand).resolves({});
    await endpoint().point('shop', { instanceId: 'i-9', host: 'ip-10-0-1-23.internal', port: 3306 });
    const [[, input]] = sent(r53) as [[string, { ChangeBatch: { Changes: { ResourceRecordSet: { Type: string } }[] } }]];
    assert.equal(input.ChangeBatch.Changes[0]!.ResourceRecordSet.Type, 'CNAME');
    await assert.rejects(endpoint().point('shop', { host: '10.0.1.23', port: 3307 }), /serves port 3306 only/);
    assert.equal(r53.calls().length, 1);
  });

  it('reads where the record points', async () => {
    r53.on(ListResourceRecordSetsCommand).resolves({ ResourceRecordSets: [{ Name: 'shop.db.internal.', Type: 'A', TTL: 5, ResourceRecords: [{ Value: '10.0.1.23' }] }], IsTruncated: false, MaxItems: 2 });
    assert.deepEqual(await endpoint().current('shop'), { host: '10.0.1.23', port: 3306 });
    assert.deepEqual(sent(r53), [['ListResourceRecordSetsCommand', { HostedZoneId: 'Z1', StartRecordName: 'shop.db.internal.', MaxItems: 2 }]]);
  });
});

describe('SnsNotifier', () => {
  const sns = mockClient(SNSClient);
  afterEach(() => sns.reset());

  it('publishes subject, message and the cluster as an attribute', async () => {
    sns.on(PublishCommand).resolves({ MessageId: 'm1' });
    await new SnsNotifier(new SNSClient(region), 'arn:aws:sns:eu-west-1:1:topic').publish({ clusterId: 'shop', subject: 'squirrel shop: failover done', message: 'claimed epoch 5' });
    assert.deepEqual(sent(sns), [
      ['PublishCommand', { TopicArn: 'arn:aws:sns:eu-west-1:1:topic', Subject: 'squirrel shop: failover done', Message: 'claimed epoch 5', MessageAttributes: { clusterId: { DataType: 'String', StringValue: 'shop' } } }],
    ]);
  });
});

describe('SfnStarter', () => {
  const sfn = mockClient(SFNClient);
  afterEach(() => sfn.reset());
  const starter = () => new SfnStarter(new SFNClient(region), { failover: 'arn:sm:failover', restore: 'arn:sm:restore' });

  it('starts the named execution of the workflow\'s state machine', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: 'arn:exec:1', startDate: new Date() });
    assert.deepEqual(await starter().start('failover', 'failover-shop-epoch-4', { clusterId: 'shop', epoch: 4, reason: 'r' }), { status: 'started', executionId: 'arn:exec:1' });
    assert.deepEqual(sent(sfn), [['StartExecutionCommand', { stateMachineArn: 'arn:sm:failover', name: 'failover-shop-epoch-4', input: '{"clusterId":"shop","epoch":4,"reason":"r"}' }]]);
  });

  it('ExecutionAlreadyExists is "already running", not an error', async () => {
    sfn.on(StartExecutionCommand).rejects(new ExecutionAlreadyExists({ message: 'Execution Already Exists', $metadata: {} }));
    assert.deepEqual(await starter().start('failover', 'failover-shop-epoch-4', { clusterId: 'shop' }), { status: 'already-running' });
  });

  it('other failures are errors', async () => {
    sfn.on(StartExecutionCommand).rejects(awsError('StateMachineDoesNotExist'));
    await assert.rejects(starter().start('restore', 'r1', {}), { name: 'StateMachineDoesNotExist' });
  });
});
