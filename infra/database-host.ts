import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Stack, Tags, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { clusterTag } from './private/control-grants.js';
import { esbuildAsset, repoRoot } from './private/esbuild.js';
import { defaultInstallCommands, installAgent, mariadbOptions, startAgent, writeConfig } from './private/host-bootstrap.js';

/** The public SSM parameter of the newest Amazon Linux 2023 AMI (x86_64), resolved at deploy time. */
export const defaultImageParameter = '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64';

export interface DatabaseHostProps {
  readonly clusterId: string;
  /** The VPC of the host's security group. */
  readonly vpc: ec2.IVpc;
  /** Who may connect to MariaDB (the application's security group or CIDR). @default nobody (add rules to `securityGroup`) */
  readonly clients?: ec2.IPeer;
  /** The MariaDB port. @default 3306 */
  readonly port?: number;
  /** @default the Amazon Linux 2023 AMI of the public SSM parameter `defaultImageParameter` */
  readonly machineImage?: ec2.IMachineImage;
  /** @default r6i.large */
  readonly instanceType?: ec2.InstanceType;
  /** The root volume (data lives on it), GiB. @default 100 */
  readonly volumeSizeGiB?: number;
  /** Shell commands that install MariaDB, Node 22, zstd and unzip. @default Amazon Linux 2023's dnf packages */
  readonly installCommands?: string[];
  /** Where the agent's data goes: the config the host is given. */
  readonly bucketName: string;
  readonly prefix: string;
  readonly tableName: string;
}

/**
 * The database host: a launch template (AMI, instance type, encrypted disk, IMDSv2, an instance
 * profile) whose normal boot installs MariaDB and the agent (an S3 asset bundled at synth time),
 * writes /etc/squirrel/config.yaml and runs `squirrel agent` under systemd. The template names no
 * network interface and no security group: replacements boot on an interface the control plane
 * reserves (agent/aws/ec2-compute.ts), in `securityGroup`.
 */
export class DatabaseHost extends Construct {
  readonly role: iam.Role;
  readonly securityGroup: ec2.SecurityGroup;
  readonly launchTemplate: ec2.LaunchTemplate;
  /** The agent's database user (replication and backups): `{username, password}`. */
  readonly agentSecret: secretsmanager.Secret;
  /** The user replicas present to `squirrel serve`: `{username, password}`. */
  readonly serveSecret: secretsmanager.Secret;
  readonly agentAsset: s3assets.Asset;

  constructor(scope: Construct, id: string, props: DatabaseHostProps) {
    super(scope, id);
    const port = props.port ?? 3306;
    const region = Stack.of(this).region;

    this.role = new iam.Role(this, 'Role', { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'), description: `squirrel ${props.clusterId}: database host` });

    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', { vpc: props.vpc, description: `squirrel ${props.clusterId}: MariaDB`, allowAllOutbound: false });
    if (props.clients) this.securityGroup.addIngressRule(props.clients, ec2.Port.tcp(port), 'MariaDB clients');
    // the AWS APIs (S3, DynamoDB, Secrets Manager, the dnf mirrors) over HTTPS only
    this.securityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'AWS APIs and package mirrors over HTTPS');

    const secret = (name: string, username: string) =>
      new secretsmanager.Secret(this, name, {
        description: `squirrel ${props.clusterId}: ${username}`,
        generateSecretString: { secretStringTemplate: JSON.stringify({ username }), generateStringKey: 'password', excludePunctuation: true, passwordLength: 32 },
      });
    this.agentSecret = secret('AgentCredentials', 'squirrel');
    this.serveSecret = secret('ServeCredentials', 'squirrel-replica');
    for (const s of [this.agentSecret, this.serveSecret]) {
      this.role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [s.secretArn] }));
      Validations.of(s).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason: 'The password is a MariaDB user of the host; rotating it needs a rotation function that changes the user in the server, which squirrel does not ship yet. It is generated at deploy time and readable only by the host role.',
      });
    }

    // the agent, bundled into one ES module at synth time, beside the package.json it reads its
    // version from (which also makes its .js an ES module)
    const version = (JSON.parse(readPackageJson()) as { version: string }).version;
    this.agentAsset = new s3assets.Asset(this, 'Agent', {
      path: join(repoRoot, 'agent'),
      ...esbuildAsset({
        entryPoints: { 'dist/agent/cli/main': 'agent/cli/main.ts' },
        // instance-job supervises the agent by running its own CLI, `../cli/main.js` from itself
        extension: '.js',
        files: { 'package.json': JSON.stringify({ name: 'squirrel', version, type: 'module' }) },
      }),
    });
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [this.agentAsset.bucket.arnForObjects(this.agentAsset.s3ObjectKey)] }));

    const userData = ec2.UserData.forLinux();
    userData.addCommands('set -euo pipefail', ...(props.installCommands ?? defaultInstallCommands));
    const zip = userData.addS3DownloadCommand({ bucket: this.agentAsset.bucket, bucketKey: this.agentAsset.s3ObjectKey, region });
    userData.addCommands(
      ...installAgent(zip),
      ...mariadbOptions(port),
      ...writeConfig({ clusterId: props.clusterId, bucket: props.bucketName, prefix: props.prefix, table: props.tableName, region, agentSecretArn: this.agentSecret.secretArn, serveSecretArn: this.serveSecret.secretArn, port }),
      ...startAgent(),
    );

    this.launchTemplate = new ec2.LaunchTemplate(this, 'LaunchTemplate', {
      machineImage: props.machineImage ?? ec2.MachineImage.fromSsmParameter(defaultImageParameter, { os: ec2.OperatingSystemType.LINUX }),
      instanceType: props.instanceType ?? ec2.InstanceType.of(ec2.InstanceClass.R6I, ec2.InstanceSize.LARGE),
      role: this.role,
      userData,
      requireImdsv2: true,
      httpPutResponseHopLimit: 1,
      blockDevices: [{ deviceName: '/dev/xvda', volume: ec2.BlockDeviceVolume.ebs(props.volumeSizeGiB ?? 100, { encrypted: true, volumeType: ec2.EbsDeviceVolumeType.GP3, deleteOnTermination: true }) }],
    });
    // the first primary, launched by hand from this template, carries the tag fencing is allowed on
    Tags.of(this.launchTemplate).add(clusterTag, props.clusterId);
  }
}

function readPackageJson(): string {
  return readFileSync(join(repoRoot, 'package.json'), 'utf8');
}
