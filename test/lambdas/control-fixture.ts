import { ClusterStateRepo } from '../../agent/cluster/repo.js';
import type { PrimaryIdentity } from '../../agent/cluster/state.js';
import { defaultControlSettings, type ControlPlane, type ControlSettings } from '../../agent/control/control-plane.js';
import { MemoryCompute, MemoryEndpoint, MemoryNotifier, type ControlCall, type MemoryComputeOptions } from '../../agent/control/memory-ports.js';
import type { StateStore } from '../../agent/ports/state-store.js';
import type { WorkflowStarter } from '../../agent/ports/workflow-starter.js';

export const oldPrimary: PrimaryIdentity = { instanceId: 'i-old', host: '10.0.0.1', port: 3306 };
export const first = { file: 'mariadb-bin.000001', pos: 4, gtid: '' };

/** A cluster at epoch 1 on `oldPrimary`, its agent `a` holding the lease for `leaseMs`, one chunk durable. */
export async function clusterAtEpoch1(store: StateStore, clusterId: string, leaseMs: number, nowMs = Date.now()): Promise<ClusterStateRepo> {
  const repo = new ClusterStateRepo(store, clusterId);
  await repo.claimFirstEpoch(first, 'a', nowMs, leaseMs, { primary: oldPrimary });
  await repo.advance('a', { epoch: 1, seq: 1, file: first.file, end: 900, gtid: '0-1-7', key: 'k1', at: new Date(nowMs).toISOString() });
  return repo;
}

/**
 * What a launched replacement does once restore-and-promote has run: its own agent (another
 * process: another repo token) takes the lease of the epoch claimed for it, which sets HEALTHY.
 */
export function promoteOnLaunch(store: StateStore, opts: { delayMs?: number } = {}): MemoryComputeOptions['onLaunch'] {
  return (req) => {
    const agent = new ClusterStateRepo(store, req.clusterId);
    // after the launch returned, as a booting instance would: promote records the epoch's start,
    // then the replacement's agent takes the lease
    const promoted = async () => {
      await agent.beginTimeline(req.epoch, req.reservation.identity, { file: 'replacement-bin.000001', pos: 4, gtid: '' }, Date.now());
      await agent.acquireLease(req.epoch, 'replacement', Date.now(), 60_000, { primary: req.reservation.identity });
    };
    setTimeout(() => void promoted().catch(() => {}), opts.delayMs ?? 20);
  };
}

export interface Ports {
  calls: ControlCall[];
  compute: MemoryCompute;
  endpoint: MemoryEndpoint;
  notifier: MemoryNotifier;
  ports: Omit<ControlPlane, 'starter'>;
}

/** Recording ports sharing one call log, on `store`, with quick settings. */
export function recordingPorts(store: StateStore, compute: MemoryComputeOptions, settings: Partial<ControlSettings> = {}): Ports {
  const calls: ControlCall[] = [];
  const c = new MemoryCompute(calls, compute);
  const endpoint = new MemoryEndpoint(calls);
  const notifier = new MemoryNotifier(calls);
  return {
    calls,
    compute: c,
    endpoint,
    notifier,
    ports: {
      stateStore: store,
      compute: c,
      endpoint,
      notifier,
      now: Date.now,
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
      settings: { ...defaultControlSettings, leaseMarginMs: 200, fencePollMs: 10, fenceWaitMs: 200, maxPromotionPolls: 50, ...settings },
    },
  };
}

/** A starter that records starts and refuses a name twice, as Step Functions does. */
export class RecordingStarter implements WorkflowStarter {
  readonly started: { workflow: string; name: string; input: Record<string, unknown> }[] = [];
  async start(workflow: 'failover' | 'restore', name: string, input: Record<string, unknown>) {
    if (this.started.some((s) => s.name === name)) return { status: 'already-running' as const };
    this.started.push({ workflow, name, input });
    return { status: 'started' as const, executionId: name };
  }
}
