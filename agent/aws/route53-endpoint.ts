import { ChangeResourceRecordSetsCommand, ListResourceRecordSetsCommand, type Route53Client } from '@aws-sdk/client-route-53';
import type { PrimaryIdentity } from '../cluster/state.js';
import type { Endpoint } from '../ports/endpoint.js';

export interface Route53EndpointOptions {
  /** The private hosted zone clients resolve the endpoint in. */
  hostedZoneId: string;
  /** The record per cluster, e.g. `(clusterId) => \`${clusterId}.db.internal\`` (no trailing dot needed). */
  recordName: (clusterId: string) => string;
  /** Short, so that clients follow a failover quickly. @default 5 */
  ttlSeconds?: number;
  /** The port clients use: DNS cannot carry one, so every instance serves on it. @default 3306 */
  port?: number;
}

const ipv4 = /^(\d{1,3}\.){3}\d{1,3}$/;

/**
 * The endpoint as a private Route 53 record: an A record when the primary is named by its
 * address, a CNAME when by a host name. UPSERT is atomic and idempotent: clients resolve either
 * the old address or the new one, never a mix.
 */
export class Route53Endpoint implements Endpoint {
  constructor(
    private readonly route53: Route53Client,
    private readonly opts: Route53EndpointOptions,
  ) {}

  async point(clusterId: string, target: PrimaryIdentity): Promise<void> {
    const port = this.opts.port ?? 3306;
    if (target.port !== port) throw new Error(`point ${this.opts.recordName(clusterId)} at ${target.host}:${target.port}: a DNS endpoint serves port ${port} only`);
    await this.route53.send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: this.opts.hostedZoneId,
        ChangeBatch: {
          Comment: `squirrel ${clusterId}: primary ${target.instanceId ?? target.host}`,
          Changes: [
            {
              Action: 'UPSERT',
              ResourceRecordSet: {
                Name: this.opts.recordName(clusterId),
                Type: ipv4.test(target.host) ? 'A' : 'CNAME',
                TTL: this.opts.ttlSeconds ?? 5,
                ResourceRecords: [{ Value: target.host }],
              },
            },
          ],
        },
      }),
    );
  }

  async current(clusterId: string): Promise<{ host: string; port: number } | undefined> {
    const name = this.opts.recordName(clusterId).replace(/\.?$/, '.');
    const out = await this.route53.send(new ListResourceRecordSetsCommand({ HostedZoneId: this.opts.hostedZoneId, StartRecordName: name, MaxItems: 2 }));
    const rs = out.ResourceRecordSets?.find((r) => r.Name === name && (r.Type === 'A' || r.Type === 'CNAME'));
    const host = rs?.ResourceRecords?.[0]?.Value;
    return host ? { host, port: this.opts.port ?? 3306 } : undefined;
  }
}
