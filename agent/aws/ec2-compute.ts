import { CreateNetworkInterfaceCommand, DescribeInstanceStatusCommand, DescribeLaunchTemplateVersionsCommand, RunInstancesCommand, StopInstancesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import type { Compute, InstanceState, LaunchedInstance, LaunchRequest, Reservation } from '../ports/compute.js';
import { clientToken } from './client-token.js';
import { userData } from './user-data.js';

export interface Ec2ComputeOptions {
  /** The launch template every replacement starts from (AMI, instance type, role, security groups, disks). */
  launchTemplateId: string;
  /** @default '$Latest' */
  launchTemplateVersion?: string;
  /** The subnet replacements' network interfaces are made in (a private one). */
  subnetId: string;
  /** Security groups of those interfaces. */
  securityGroupIds: string[];
  /** The MariaDB port a replacement serves on. @default 3306 */
  port?: number;
}

/**
 * Compute on EC2. A replacement's address is an elastic network interface made before the
 * instance (so the epoch can be claimed for it first) and attached as its primary interface at
 * launch; the launch template must therefore not name network interfaces of its own. Every call
 * that creates something carries a client token, so a retried task creates nothing twice.
 */
export class Ec2Compute implements Compute {
  constructor(
    private readonly ec2: EC2Client,
    private readonly opts: Ec2ComputeOptions,
  ) {}

  async reserve(req: { clusterId: string; epoch: number; token: string }): Promise<Reservation> {
    const out = await this.ec2.send(
      new CreateNetworkInterfaceCommand({
        SubnetId: this.opts.subnetId,
        Groups: this.opts.securityGroupIds,
        Description: `squirrel ${req.clusterId} epoch ${req.epoch}`,
        ClientToken: clientToken(req.token),
        TagSpecifications: [{ ResourceType: 'network-interface', Tags: tags(req.clusterId, req.epoch) }],
      }),
    );
    const eni = out.NetworkInterface;
    if (!eni?.NetworkInterfaceId || !eni.PrivateIpAddress) throw new Error(`reserve an address for cluster ${req.clusterId}: CreateNetworkInterface returned no interface id or private address`);
    return { id: eni.NetworkInterfaceId, identity: { host: eni.PrivateIpAddress, port: this.opts.port ?? 3306 } };
  }

  /** The launch template's own user data (its boot script), read once. */
  private templateScript: Promise<string | undefined> | undefined;

  private readTemplateScript(): Promise<string | undefined> {
    this.templateScript ??= this.ec2
      .send(new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateId: this.opts.launchTemplateId, Versions: [this.opts.launchTemplateVersion ?? '$Latest'] }))
      .then((out) => {
        const encoded = out.LaunchTemplateVersions?.[0]?.LaunchTemplateData?.UserData;
        return encoded ? Buffer.from(encoded, 'base64').toString('utf8') : undefined;
      })
      .catch((err: unknown) => {
        this.templateScript = undefined; // a transient failure is not remembered
        throw err;
      });
    return this.templateScript;
  }

  async launch(req: LaunchRequest): Promise<LaunchedInstance> {
    const script = await this.readTemplateScript();
    const out = await this.ec2.send(
      new RunInstancesCommand({
        LaunchTemplate: { LaunchTemplateId: this.opts.launchTemplateId, Version: this.opts.launchTemplateVersion ?? '$Latest' },
        MinCount: 1,
        MaxCount: 1,
        ClientToken: clientToken(req.token),
        NetworkInterfaces: [{ DeviceIndex: 0, NetworkInterfaceId: req.reservation.id }],
        UserData: Buffer.from(userData(req, script)).toString('base64'),
        TagSpecifications: [{ ResourceType: 'instance', Tags: tags(req.clusterId, req.epoch) }],
      }),
    );
    const instanceId = out.Instances?.[0]?.InstanceId;
    if (!instanceId) throw new Error(`launch a replacement for cluster ${req.clusterId}: RunInstances returned no instance`);
    return { instanceId, identity: req.reservation.identity };
  }

  async stop(instanceId: string, opts: { force: boolean }): Promise<void> {
    try {
      await this.ec2.send(new StopInstancesCommand({ InstanceIds: [instanceId], Force: opts.force }));
    } catch (err) {
      // a terminated instance cannot be stopped: it is as stopped as it gets
      if (errorName(err) === 'IncorrectInstanceState' && (await this.describe(instanceId)) === 'terminated') return;
      throw err;
    }
  }

  async describe(instanceId: string): Promise<InstanceState> {
    try {
      const out = await this.ec2.send(new DescribeInstanceStatusCommand({ InstanceIds: [instanceId], IncludeAllInstances: true }));
      const name = out.InstanceStatuses?.[0]?.InstanceState?.Name;
      if (!name) return 'missing';
      return name === 'shutting-down' ? 'stopping' : (name as InstanceState);
    } catch (err) {
      if (errorName(err) === 'InvalidInstanceID.NotFound') return 'missing';
      throw err;
    }
  }
}

function tags(clusterId: string, epoch: number) {
  return [
    { Key: 'squirrel:cluster', Value: clusterId },
    { Key: 'squirrel:epoch', Value: String(epoch) },
  ];
}

function errorName(err: unknown): string | undefined {
  return (err as { name?: string } | undefined)?.name;
}
