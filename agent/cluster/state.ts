import type { Item, Value } from '../ports/state-store.js';
import type { Writer } from './own-write.js';

/**
 * The cluster state: what the state item holds (epoch, primary identity, status, lease, durable
 * position, handover) and how it reads from and writes to a state-store item. Pure data; the rules
 * that move it are in transition.ts, the store access in repo.ts.
 */

/** The last chunk that is in the object store. Moves only forward, only under the current epoch. */
export interface DurablePosition {
  epoch: number;
  seq: number;
  file: string;
  /** File offset just past the chunk's last event. */
  end: number;
  /** The server's whole GTID position at `end` (every domain), '' when it has none. */
  gtid: string;
  key: string;
  /** ISO time the position was written. */
  at: string;
}

/** Where an epoch's timeline begins in the server's binlog. */
export interface TimelineStart {
  file: string;
  pos: number;
  gtid: string;
}

/**
 * Where one epoch's promise ended: its durable position at the moment the next epoch was claimed,
 * recorded by that claim's conditional write. Nothing of the epoch past it is ever used (restore,
 * verify, the fake primary, prune). `durable` is null when no chunk of the epoch was durable (an
 * empty epoch): its chain is then empty.
 */
export interface Handover {
  epoch: number;
  durable: DurablePosition | null;
  /** ISO time of the claim that recorded it. */
  at: string;
}

/**
 * Which server an epoch belongs to. On EC2 `instanceId` is the instance's id, and names the
 * server together with the port (the agent reaches its server on localhost, the control plane
 * knows its private address); without it, host and port name it.
 */
export interface PrimaryIdentity {
  instanceId?: string;
  host: string;
  port: number;
}

/** The one string two identities of the same server share (stored with the claim, compared by conditions). */
export function primaryKey(p: PrimaryIdentity): string {
  return `${p.instanceId ?? p.host}:${p.port}`;
}

export function describePrimary(p: PrimaryIdentity): string {
  return p.instanceId ? `${p.instanceId} (${p.host}:${p.port})` : `${p.host}:${p.port}`;
}

/**
 * HEALTHY: an agent streams (or may take the lease). SUSPECT: the control plane saw a stale
 * heartbeat. FAILING_OVER: the next epoch is claimed for a replacement that has not joined yet.
 * RESTORING: the replacement is restoring. FAILED: a workflow gave up; a person decides.
 */
/**
 * Lossless mode as the agent last saw it on the primary (`squirrel status` shows it): a commit is
 * in S3 before it returns only while `status` is `on`. A primary in best-effort mode falls back
 * to asynchronous commits once one waits past its timeout; squirrel says so rather than hide it.
 */
export interface SemiSyncReport {
  /** The agent's `lossless` setting. */
  mode: 'strict' | 'best-effort';
  /** The primary has semi-sync on (`rpl_semi_sync_master_enabled`) and the agent streams as its semi-sync replica. */
  enabled: boolean;
  /** `on`: commits wait for the agent; `off`: the primary commits asynchronously (RPO above zero); `unknown`: not read. */
  status: 'on' | 'off' | 'unknown';
  /** Times the primary fell back to asynchronous commits since it started (`Rpl_semi_sync_master_no_times`). */
  fallbacks: number;
  /** When `status` last changed, as the agent saw it (ISO 8601). */
  since: string;
}

export type ClusterStatus = 'HEALTHY' | 'SUSPECT' | 'FAILING_OVER' | 'RESTORING' | 'FAILED';

export interface ClusterState {
  clusterId: string;
  epoch: number;
  status: ClusterStatus;
  /** Null until the first chunk of the cluster is durable. */
  durable: DurablePosition | null;
  /** Chunks made durable in the current epoch (the seq of the last one). */
  durableSeq: number;
  /** Where the current epoch began. */
  start: TimelineStart;
  /**
   * The epoch is claimed but its primary is not promoted yet: `start` is not known (a claim made
   * before the replacement restored). `squirrel promote` records it; no agent streams the epoch before.
   */
  startPending?: boolean;
  /** The server the current epoch belongs to (absent on items claimed before identities were recorded). */
  primary?: PrimaryIdentity;
  /** '' when nobody holds the lease. */
  leaseHolder: string;
  /** The holding process's token: a restart of the same holder has another ('' when nobody holds it). */
  leaseToken: string;
  /** Epoch milliseconds. */
  leaseExpiresAt: number;
  heartbeatAt: string | null;
  /** What the agent last saw of the server, for lag reporting. */
  server: { file: string; pos: number; at: string } | null;
  /** Seconds from the oldest event not yet durable to the heartbeat (0 when caught up). */
  lagSeconds?: number;
  /** Lossless mode on the primary, as its agent last reported it (absent: lossless is off). */
  semiSync?: SemiSyncReport;
  /** Who wrote `durable` (absent on items written before writers were recorded). */
  durableBy?: Writer;
  /** The token of the claim that started the current epoch (absent on older items). */
  claimToken?: string;
  /**
   * The handovers of older epochs this reader knows: the state item's own (`handover`, the
   * previous epoch's, written by the claim of the current one) and, when read with `readHistory`,
   * those of the history items. An older epoch without one (a cluster claimed before handovers
   * were recorded) is read as before: to its newest chunk, with a warning (stream/chain.ts).
   */
  handovers?: Handover[];
}

/** What a heartbeat records besides the lease: what the agent sees of its server. */
export interface AgentReport {
  server: ClusterState['server'];
  /** @default 0 */
  lagSeconds?: number;
  /** Lossless mode only. */
  semiSync?: SemiSyncReport;
}

/** The handover of `epoch` among what `state` knows, if any. */
export function handoverOf(state: Pick<ClusterState, 'handovers'>, epoch: number): Handover | undefined {
  return state.handovers?.find((h) => h.epoch === epoch);
}

/** What the state item and the history items say, read together (readers of older epochs need both). */
export interface ClusterHistory {
  /** The state item, with `handovers` of every older epoch that has one. */
  state: ClusterState;
  /** Where each epoch began: history items, and the current epoch's start from the state item. */
  starts: Map<number, TimelineStart>;
}

/** The state a state item holds. */
export function fromItem(clusterId: string, item: Item): ClusterState {
  return {
    clusterId,
    epoch: item.epoch as number,
    status: item.status as ClusterStatus,
    durable: (item.durable ?? null) as unknown as DurablePosition | null,
    durableSeq: item.durableSeq as number,
    start: item.start as unknown as TimelineStart,
    ...(item.startPending === true ? { startPending: true } : {}),
    ...(item.primary ? { primary: item.primary as unknown as PrimaryIdentity } : {}),
    leaseHolder: (item.leaseHolder ?? '') as string,
    leaseToken: (item.leaseToken ?? '') as string,
    leaseExpiresAt: (item.leaseExpiresAt ?? 0) as number,
    heartbeatAt: (item.heartbeatAt ?? null) as string | null,
    server: (item.server ?? null) as unknown as ClusterState['server'],
    ...(typeof item.lagSeconds === 'number' ? { lagSeconds: item.lagSeconds } : {}),
    ...(item.semiSync ? { semiSync: item.semiSync as unknown as SemiSyncReport } : {}),
    ...(item.durableBy ? { durableBy: item.durableBy as unknown as Writer } : {}),
    ...(typeof item.claimToken === 'string' ? { claimToken: item.claimToken } : {}),
    ...(item.handover ? { handovers: [item.handover as unknown as Handover] } : {}),
  };
}

/**
 * The fields of the state item that hold `state` (without pk and sk): the inverse of fromItem for
 * the state item's own handover (the newest of `handovers`). Conditions are evaluated against it.
 */
export function toFields(state: ClusterState): Record<string, Value> {
  const handover = state.handovers?.filter((h) => h.epoch === state.epoch - 1).at(-1);
  const fields: Record<string, Value> = {
    epoch: state.epoch,
    status: state.status,
    durable: state.durable as unknown as Value,
    durableSeq: state.durableSeq,
    start: state.start as unknown as Value,
    leaseHolder: state.leaseHolder,
    leaseToken: state.leaseToken,
    leaseExpiresAt: state.leaseExpiresAt,
    heartbeatAt: state.heartbeatAt,
    server: state.server as unknown as Value,
  };
  if (state.startPending) fields.startPending = true;
  if (state.primary) {
    fields.primary = state.primary as unknown as Value;
    fields.primaryKey = primaryKey(state.primary);
  }
  if (state.lagSeconds !== undefined) fields.lagSeconds = state.lagSeconds;
  if (state.semiSync) fields.semiSync = state.semiSync as unknown as Value;
  if (state.durableBy) fields.durableBy = state.durableBy as unknown as Value;
  if (state.claimToken !== undefined) fields.claimToken = state.claimToken;
  if (handover) fields.handover = handover as unknown as Value;
  return fields;
}
