import type { Compute, InstanceState, LaunchedInstance, LaunchRequest, Reservation } from '../ports/compute.js';
import type { Endpoint } from '../ports/endpoint.js';
import type { Notification, Notifier } from '../ports/notifier.js';
import type { PrimaryIdentity } from '../cluster/state.js';

/**
 * In-memory control-plane ports that record every call, for tests of the handlers and the
 * workflows. (The local cluster's real ones, process groups and the TCP forwarder, come with it.)
 * Each call is appended to `calls` as it starts, so a test can assert the order across ports
 * when they share one array.
 */
export type ControlCall =
  | { port: 'compute'; op: 'reserve'; clusterId: string; epoch: number; token: string }
  | { port: 'compute'; op: 'launch'; request: LaunchRequest }
  | { port: 'compute'; op: 'stop'; instanceId: string; force: boolean }
  | { port: 'endpoint'; op: 'point'; clusterId: string; target: PrimaryIdentity }
  | { port: 'notifier'; op: 'publish'; notification: Notification };

export interface MemoryComputeOptions {
  /** Instances that exist before the test (the old primary). */
  instances?: Record<string, InstanceState>;
  /** What a launched instance does (e.g. promote itself, as restore-and-promote would); may throw to fail the launch. */
  onLaunch?: (req: LaunchRequest, instance: LaunchedInstance) => Promise<void> | void;
  /** The state a stopped instance reaches. @default 'stopped' */
  stopReaches?: InstanceState;
}

export class MemoryCompute implements Compute {
  readonly instances = new Map<string, InstanceState>();
  private readonly reservations = new Map<string, Reservation>();
  private readonly launches = new Map<string, LaunchedInstance>();
  private nextPort = 13306;

  constructor(
    readonly calls: ControlCall[] = [],
    private readonly opts: MemoryComputeOptions = {},
  ) {
    for (const [id, s] of Object.entries(opts.instances ?? {})) this.instances.set(id, s);
  }

  async reserve(req: { clusterId: string; epoch: number; token: string }): Promise<Reservation> {
    this.calls.push({ port: 'compute', op: 'reserve', ...req });
    let r = this.reservations.get(req.token);
    if (!r) {
      r = { id: `res-${this.reservations.size + 1}`, identity: { host: '127.0.0.1', port: this.nextPort++ } };
      this.reservations.set(req.token, r);
    }
    return r;
  }

  async launch(req: LaunchRequest): Promise<LaunchedInstance> {
    this.calls.push({ port: 'compute', op: 'launch', request: req });
    const have = this.launches.get(req.token);
    if (have) return have;
    const launched = { instanceId: `i-local-${this.launches.size + 1}`, identity: req.reservation.identity };
    await this.opts.onLaunch?.(req, launched);
    this.launches.set(req.token, launched);
    this.instances.set(launched.instanceId, 'running');
    return launched;
  }

  async stop(instanceId: string, opts: { force: boolean }): Promise<void> {
    this.calls.push({ port: 'compute', op: 'stop', instanceId, force: opts.force });
    if (this.instances.has(instanceId) && this.instances.get(instanceId) !== 'terminated') this.instances.set(instanceId, this.opts.stopReaches ?? 'stopped');
  }

  async describe(instanceId: string): Promise<InstanceState> {
    return this.instances.get(instanceId) ?? 'missing';
  }
}

export class MemoryEndpoint implements Endpoint {
  private readonly targets = new Map<string, { host: string; port: number }>();

  constructor(readonly calls: ControlCall[] = []) {}

  async point(clusterId: string, target: PrimaryIdentity): Promise<void> {
    this.calls.push({ port: 'endpoint', op: 'point', clusterId, target });
    this.targets.set(clusterId, { host: target.host, port: target.port });
  }

  async current(clusterId: string): Promise<{ host: string; port: number } | undefined> {
    return this.targets.get(clusterId);
  }
}

export class MemoryNotifier implements Notifier {
  constructor(readonly calls: ControlCall[] = []) {}

  async publish(notification: Notification): Promise<void> {
    this.calls.push({ port: 'notifier', op: 'publish', notification });
  }

  get published(): Notification[] {
    return this.calls.flatMap((c) => (c.port === 'notifier' ? [c.notification] : []));
  }
}
