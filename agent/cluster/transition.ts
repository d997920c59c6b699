import type { Condition, Item, Value } from '../ports/state-store.js';
import { conditionHolds } from '../store/condition.js';
import type { Writer } from './own-write.js';
import {
  fromItem,
  primaryKey,
  toFields,
  type AgentReport,
  type ClusterState,
  type ClusterStatus,
  type DurablePosition,
  type Handover,
  type PrimaryIdentity,
  type TimelineStart,
} from './state.js';

/**
 * The rules of the cluster state, as one pure function of (state, action, now).
 *
 * Each action is a write to the state item: fields it sets, under guards. The guards are state-store
 * conditions, so the very same ones go to DynamoDB (repo.ts sends `write(action, now)`) and decide
 * here, against a state in memory, what the store would do: `decide` is what every part (agent,
 * backup, restore, serve, the control plane's handlers) asks, and what the table tests hold.
 * A refused action names its first failed guard, in the order below, so a caller learns the most
 * important reason: fenced before lease before position.
 */

/**
 * Every status change a workflow may make with `set-status`. Claims, lease takes and renewals
 * set statuses of their own: a claim sets FAILING_OVER (or the claimer's choice), and the agent of
 * the epoch's primary sets HEALTHY when it takes the lease or renews it.
 */
export const statusChanges: Readonly<Record<ClusterStatus, readonly ClusterStatus[]>> = {
  HEALTHY: ['SUSPECT', 'FAILED'],
  SUSPECT: ['HEALTHY', 'FAILED'],
  FAILING_OVER: ['RESTORING', 'FAILED'],
  RESTORING: ['FAILED'],
  FAILED: ['RESTORING'],
};

export type ClusterAction =
  /** Creates the cluster at epoch 1 for its first primary, whose agent takes the lease with it. */
  | { kind: 'claim-first'; start: TimelineStart; primary?: PrimaryIdentity; holder: string; leaseToken: string; leaseMs: number; claimToken: string }
  /**
   * Fences epoch `from` and claims `from + 1` for `primary`, recording the handover: epoch
   * `from`'s durable position as `seen` (the claimer's read). Waits out a live lease (expiry plus
   * `leaseMarginMs`) unless `force`: an agent that cannot renew fences its own server within
   * its lease, so after the margin nothing of epoch `from` can still take a write.
   * Without `start` (the failover order: the claim fences the old primary before the replacement
   * has restored, so its binlog start is not known yet) the epoch is claimed `startPending`, with
   * a placeholder start (see pendingStart); `begin-timeline` records the real one at promotion.
   */
  | {
      kind: 'claim-next';
      from: number;
      seen: { durableSeq: number; durable: DurablePosition | null };
      start?: TimelineStart;
      primary?: PrimaryIdentity;
      claimToken: string;
      status?: 'FAILING_OVER' | 'RESTORING' | 'HEALTHY';
      leaseMarginMs: number;
      force?: boolean;
    }
  /**
   * Takes (or renews) the lease of `epoch` for one process (`leaseToken`). The same process takes
   * it back at once; so does a restart of the same holder whose predecessor (the token it held) is
   * known dead; anyone else waits for the expiry. Only the agent of the epoch's primary may, and
   * only once the epoch's timeline has begun (not `startPending`): before that it has no start to
   * stream from.
   */
  | { kind: 'take-lease'; epoch: number; holder: string; leaseToken: string; leaseMs: number; primary?: PrimaryIdentity; predecessorToken?: string }
  /** The heartbeat: renews the lease and records what the agent sees of its server. */
  | { kind: 'renew'; epoch: number; holder: string; leaseToken: string; leaseMs: number; report: AgentReport }
  | { kind: 'release'; epoch: number; holder: string; leaseToken: string }
  /** Moves the durable position from `previousSeq` to `position`, one chunk at a time. */
  | { kind: 'advance'; holder: string; leaseToken: string; position: DurablePosition; previousSeq: number }
  | { kind: 'set-status'; epoch: number; from: ClusterStatus; to: ClusterStatus }
  /**
   * `squirrel promote` records where the new primary's timeline begins in an epoch claimed
   * `startPending` for it: its binlog position after the restore, before it takes a write. Only
   * for the server the claim named, and only while nothing of the epoch is durable.
   */
  | { kind: 'begin-timeline'; epoch: number; primary: PrimaryIdentity; start: TimelineStart };

/** Why an action is refused; each has its own error in repo.ts. */
export type RefusalKind =
  /** claim-first: the cluster exists. */
  | 'exists'
  /** the cluster does not exist. */
  | 'missing'
  /** the action's epoch is not the cluster's (for claim-next: `from` is not the current epoch). */
  | 'fenced'
  /** claim-next: the old epoch advanced after the claimer read it (read again). */
  | 'moved'
  /** claim-next: the old epoch's lease has not expired plus the margin. */
  | 'lease-live'
  /** take-lease, begin-timeline: the epoch belongs to another server. */
  | 'not-primary'
  /** take-lease: the epoch's timeline has not begun (claimed before its primary was promoted). */
  | 'start-pending'
  /** begin-timeline: the epoch's timeline has begun already (its start is recorded, or chunks are durable). */
  | 'started'
  /** another process holds the lease (or this one no longer does). */
  | 'lease-held'
  /** advance: the durable position is not at `previousSeq`. */
  | 'position-conflict'
  /** set-status: the status is not `from` (someone changed it first). */
  | 'status-changed'
  /** set-status: `from` to `to` is not a change a workflow may make. */
  | 'not-allowed';

interface Guard {
  refusal: RefusalKind;
  condition: Condition;
}

/** The write an action makes: fields set on the state item, and the condition that guards them. */
export interface Write {
  set: Record<string, Value>;
  condition: Condition;
}

export type Decision = { ok: true; state: ClusterState } | { ok: false; refusal: RefusalKind };

const iso = (ms: number) => new Date(ms).toISOString();

/** The lease belongs to this process (holder and token). */
function holds(holder: string, leaseToken: string): Condition {
  return { and: [{ field: 'leaseHolder', eq: holder }, { field: 'leaseToken', eq: leaseToken }] };
}

/** The epoch's primary is `primary`, or the claim named none. A caller that names none may take only the latter. */
function isPrimary(primary: PrimaryIdentity | undefined): Condition {
  const none: Condition[] = [{ field: 'primaryKey', absent: true }, { field: 'primaryKey', eq: null }];
  return { or: primary ? [...none, { field: 'primaryKey', eq: primaryKey(primary) }] : none };
}

/**
 * Where an epoch claimed before its primary was promoted says it starts: no file yet, and the
 * GTID position it will continue from, the cluster's durable one (the handover's, or an older
 * epoch's when the one fenced made nothing durable), which is what a restore to latest reaches.
 */
export function pendingStart(seen: { durable: DurablePosition | null }): TimelineStart {
  return { file: '', pos: 0, gtid: seen.durable?.gtid ?? '' };
}

/** The claim's primary fields; a claim that names none clears the previous epoch's (a store update cannot remove a field). */
function identityFields(primary: PrimaryIdentity | undefined): Record<string, Value> {
  if (!primary) return { primary: null, primaryKey: null };
  const p: Record<string, Value> = { host: primary.host, port: primary.port };
  if (primary.instanceId !== undefined) p.instanceId = primary.instanceId;
  return { primary: p, primaryKey: primaryKey(primary) };
}

function guards(action: ClusterAction, nowMs: number): Guard[] {
  const exists: Guard = { refusal: 'missing', condition: { exists: true } };
  switch (action.kind) {
    case 'claim-first':
      return [{ refusal: 'exists', condition: { exists: false } }];
    case 'claim-next': {
      const g: Guard[] = [exists, { refusal: 'fenced', condition: { field: 'epoch', eq: action.from } }, { refusal: 'moved', condition: { field: 'durableSeq', eq: action.seen.durableSeq } }];
      if (!action.force) g.push({ refusal: 'lease-live', condition: { or: [{ field: 'leaseHolder', eq: '' }, { field: 'leaseExpiresAt', lt: nowMs - action.leaseMarginMs }] } });
      return g;
    }
    case 'take-lease': {
      const mayTake: Condition[] = [{ field: 'leaseHolder', eq: '' }, { field: 'leaseExpiresAt', lt: nowMs }, holds(action.holder, action.leaseToken)];
      if (action.predecessorToken) mayTake.push(holds(action.holder, action.predecessorToken));
      return [
        exists,
        { refusal: 'fenced', condition: { field: 'epoch', eq: action.epoch } },
        { refusal: 'not-primary', condition: isPrimary(action.primary) },
        { refusal: 'start-pending', condition: { or: [{ field: 'startPending', absent: true }, { field: 'startPending', eq: false }] } },
        { refusal: 'lease-held', condition: { or: mayTake } },
      ];
    }
    case 'begin-timeline':
      return [
        exists,
        { refusal: 'fenced', condition: { field: 'epoch', eq: action.epoch } },
        // exactly this server: a claim that named none is not one for the promoter
        { refusal: 'not-primary', condition: { field: 'primaryKey', eq: primaryKey(action.primary) } },
        { refusal: 'started', condition: { and: [{ field: 'startPending', eq: true }, { field: 'durableSeq', eq: 0 }] } },
      ];
    case 'renew':
    case 'release':
      return [exists, { refusal: 'fenced', condition: { field: 'epoch', eq: action.epoch } }, { refusal: 'lease-held', condition: holds(action.holder, action.leaseToken) }];
    case 'advance':
      return [
        exists,
        { refusal: 'fenced', condition: { field: 'epoch', eq: action.position.epoch } },
        { refusal: 'lease-held', condition: holds(action.holder, action.leaseToken) },
        { refusal: 'position-conflict', condition: { field: 'durableSeq', eq: action.previousSeq } },
      ];
    case 'set-status':
      return [
        exists,
        { refusal: 'fenced', condition: { field: 'epoch', eq: action.epoch } },
        { refusal: 'status-changed', condition: { field: 'status', eq: action.from } },
        // a change not in the table is refused whatever the item holds
        { refusal: 'not-allowed', condition: statusChanges[action.from].includes(action.to) ? { and: [] } : { exists: false } },
      ];
  }
}

/** The fields an action sets when its guards hold. */
function effect(action: ClusterAction, nowMs: number): Record<string, Value> {
  switch (action.kind) {
    case 'claim-first':
      return {
        epoch: 1,
        status: 'HEALTHY',
        durable: null,
        durableSeq: 0,
        start: action.start as unknown as Value,
        ...identityFields(action.primary),
        leaseHolder: action.holder,
        leaseToken: action.leaseToken,
        leaseExpiresAt: nowMs + action.leaseMs,
        heartbeatAt: iso(nowMs),
        server: null,
        claimToken: action.claimToken,
      };
    case 'claim-next': {
      const { from, seen } = action;
      const handover: Handover = { epoch: from, durable: seen.durable && seen.durable.epoch === from ? seen.durable : null, at: iso(nowMs) };
      return {
        epoch: from + 1,
        status: action.status ?? 'FAILING_OVER',
        durableSeq: 0,
        start: (action.start ?? pendingStart(seen)) as unknown as Value,
        // a store update cannot remove a field: a claim with its start says false
        startPending: !action.start,
        ...identityFields(action.primary),
        leaseHolder: '',
        leaseToken: '',
        leaseExpiresAt: 0,
        claimToken: action.claimToken,
        handover: handover as unknown as Value,
      };
    }
    case 'take-lease':
      return { leaseHolder: action.holder, leaseToken: action.leaseToken, leaseExpiresAt: nowMs + action.leaseMs, status: 'HEALTHY' };
    case 'renew':
      return {
        heartbeatAt: iso(nowMs),
        leaseExpiresAt: nowMs + action.leaseMs,
        server: action.report.server as unknown as Value,
        lagSeconds: action.report.lagSeconds ?? 0,
        // lossless off: nothing to report, and a report of an earlier epoch's agent goes
        semiSync: (action.report.semiSync ?? null) as unknown as Value,
        status: 'HEALTHY',
      };
    case 'release':
      return { leaseHolder: '', leaseToken: '', leaseExpiresAt: 0 };
    case 'advance': {
      const by: Writer = { holder: action.holder, token: action.leaseToken };
      return { durable: action.position as unknown as Value, durableSeq: action.position.seq, durableBy: by as unknown as Value };
    }
    case 'set-status':
      return { status: action.to };
    case 'begin-timeline':
      return { start: action.start as unknown as Value, startPending: false };
  }
}

/** The write to send for `action` at `nowMs`: its effect under all its guards. */
export function write(action: ClusterAction, nowMs: number): Write {
  return { set: effect(action, nowMs), condition: { and: guards(action, nowMs).map((g) => g.condition) } };
}

/**
 * What `action` at `nowMs` does to `state` (undefined: no cluster yet): the state after it, or the
 * first guard it fails. Pure; the same guards and effect as `write`.
 */
export function decide(state: ClusterState | undefined, action: ClusterAction, nowMs: number): Decision {
  const item: Item | undefined = state && ({ pk: '', sk: '', ...toFields(state) } as Item);
  const failed = guards(action, nowMs).find((g) => !conditionHolds(item, g.condition));
  if (failed) return { ok: false, refusal: failed.refusal };
  const next = fromItem(state?.clusterId ?? '', { pk: '', sk: '', ...(item ?? {}), ...effect(action, nowMs) } as Item);
  // the handovers older than the state item's own stay known to the caller
  const older = (state?.handovers ?? []).filter((h) => !next.handovers?.some((n) => n.epoch === h.epoch));
  if (older.length > 0) next.handovers = [...older, ...(next.handovers ?? [])].sort((a, b) => a.epoch - b.epoch);
  return { ok: true, state: next };
}
