import type { PrimaryIdentity } from '../../cluster/state.js';
import type { Endpoint } from '../../ports/endpoint.js';
import { TcpForwarder } from '../tcp-forwarder.js';

/**
 * The local cluster's endpoint: a TCP forwarder on a fixed port that clients use, as they use a
 * Route 53 name in AWS. Until it is first pointed it refuses connections; pointing it elsewhere
 * drops the open connections (clients reconnect to the new primary, as they would after a DNS
 * change and the old server's death).
 */
export class ForwarderEndpoint implements Endpoint {
  private target: { host: string; port: number } | undefined;

  private constructor(readonly forwarder: TcpForwarder) {}

  static async start(port: number): Promise<ForwarderEndpoint> {
    const forwarder = await TcpForwarder.start({ host: '127.0.0.1', port: 1 }, port);
    forwarder.cut();
    return new ForwarderEndpoint(forwarder);
  }

  get port(): number {
    return this.forwarder.port;
  }

  async point(_clusterId: string, target: PrimaryIdentity): Promise<void> {
    if (this.target?.host === target.host && this.target.port === target.port) return;
    this.target = { host: target.host, port: target.port };
    this.forwarder.retarget(this.target);
    this.forwarder.restore();
  }

  async current(): Promise<{ host: string; port: number } | undefined> {
    return this.target;
  }

  stop(): Promise<void> {
    return this.forwarder.stop();
  }
}
