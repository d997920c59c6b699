import { AssignPrivateIpAddressesCommand, DescribeNetworkInterfacesCommand, type EC2Client, type NetworkInterface } from '@aws-sdk/client-ec2';
import type { PrimaryIdentity } from '../cluster/state.js';
import type { Endpoint } from '../ports/endpoint.js';

export interface SecondaryIpEndpointOptions {
  /** The private address clients use; it moves, as a secondary address, to the primary's interface. */
  address: string;
  /** The port clients use (every instance serves on it). @default 3306 */
  port?: number;
}

/**
 * The endpoint as a secondary private address that moves to the primary's network interface
 * (AssignPrivateIpAddresses with AllowReassignment: one call takes it from the old interface and
 * gives it to the new one). No DNS, so clients follow at once; the address must lie in the
 * subnet of the replacements' interfaces. The instance's OS picks the secondary address up
 * itself (Amazon Linux's ec2-net-utils), and the server listens on every address.
 */
export class SecondaryIpEndpoint implements Endpoint {
  constructor(
    private readonly ec2: EC2Client,
    private readonly opts: SecondaryIpEndpointOptions,
  ) {}

  private async interfaceHolding(address: string): Promise<NetworkInterface | undefined> {
    const out = await this.ec2.send(new DescribeNetworkInterfacesCommand({ Filters: [{ Name: 'addresses.private-ip-address', Values: [address] }] }));
    return out.NetworkInterfaces?.[0];
  }

  async point(clusterId: string, target: PrimaryIdentity): Promise<void> {
    const port = this.opts.port ?? 3306;
    if (target.port !== port) throw new Error(`point the endpoint of ${clusterId} (${this.opts.address}) at ${target.host}:${target.port}: the endpoint serves port ${port} only`);
    const eni = await this.interfaceHolding(target.host);
    if (!eni?.NetworkInterfaceId || eni.PrivateIpAddress !== target.host) throw new Error(`point the endpoint of ${clusterId}: no network interface has ${target.host} as its primary address`);
    // idempotent: already there
    if (eni.PrivateIpAddresses?.some((a) => a.PrivateIpAddress === this.opts.address)) return;
    await this.ec2.send(new AssignPrivateIpAddressesCommand({ NetworkInterfaceId: eni.NetworkInterfaceId, PrivateIpAddresses: [this.opts.address], AllowReassignment: true }));
  }

  async current(): Promise<{ host: string; port: number } | undefined> {
    const eni = await this.interfaceHolding(this.opts.address);
    return eni?.PrivateIpAddress ? { host: eni.PrivateIpAddress, port: this.opts.port ?? 3306 } : undefined;
  }
}
