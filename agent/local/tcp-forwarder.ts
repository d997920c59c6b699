import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP forwarder on 127.0.0.1: every connection to `port` is piped to the current target. Local
 * mode's stand-in for a movable endpoint (the control plane retargets it), and the tests' way to
 * cut a network path: `cut()` drops every open connection and refuses new ones until `restore()`.
 */
export class TcpForwarder {
  private readonly sockets = new Set<Socket>();
  private refusing = false;

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private target: { host: string; port: number },
  ) {}

  static async start(target: { host: string; port: number }, port = 0): Promise<TcpForwarder> {
    const accepted: { forwarder?: TcpForwarder } = {};
    const server = createServer((client) => {
      if (accepted.forwarder) accepted.forwarder.accept(client);
      else client.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('tcp forwarder: no port');
    accepted.forwarder = new TcpForwarder(server, address.port, target);
    return accepted.forwarder;
  }

  get endpoint(): string {
    return `127.0.0.1:${this.port}`;
  }

  private accept(client: Socket): void {
    if (this.refusing) {
      client.destroy();
      return;
    }
    const upstream = connect(this.target.port, this.target.host);
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** Points new connections at another target; open ones are dropped. */
  retarget(target: { host: string; port: number }): void {
    this.target = target;
    this.dropAll();
  }

  /** Drops every open connection and refuses new ones. */
  cut(): void {
    this.refusing = true;
    this.dropAll();
  }

  restore(): void {
    this.refusing = false;
  }

  private dropAll(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  async stop(): Promise<void> {
    this.dropAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
