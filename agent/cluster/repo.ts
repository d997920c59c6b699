import { randomUUID } from 'node:crypto';
import { ConditionFailedError, FencedError, LeaseHeldError, LeaseLiveError, NotPrimaryError, PositionConflictError, StatusChangeError, TimelinePendingError, TimelineStartedError } from '../errors.js';
import { clusterPk, epochSk, lastFailoverSk, stateSk } from '../keys.js';
import type { StateStore, Value } from '../ports/state-store.js';
import { isOwnAdvance, isOwnClaim, isOwnTimelineStart } from './own-write.js';
import { describePrimary, fromItem, type AgentReport, type ClusterHistory, type ClusterState, type ClusterStatus, type DurablePosition, type Handover, type PrimaryIdentity, type TimelineStart } from './state.js';
import { decide, write, type ClusterAction, type RefusalKind } from './transition.js';

export type { AgentReport, ClusterHistory, ClusterState, ClusterStatus, DurablePosition, Handover, PrimaryIdentity, SemiSyncReport, TimelineStart } from './state.js';
export { handoverOf, primaryKey } from './state.js';

/**
 * How long after a lease's expiry the next epoch may be claimed: covers the clock difference
 * between the claimer and the agent, and the agent's own self-fencing, which happens before the
 * expiry by its own clock (docs/fencing.md).
 */
export const defaultLeaseMarginMs = 5_000;

/**
 * The cluster's state item in the state store. Every write is the one transition.ts plans for its
 * action: conditional on the epoch (fencing) and on the lease holder and its process; the durable position is additionally conditional on the previous seq, so it
 * moves one chunk at a time and never back.
 *
 * A write may land and lose its response; its repeat (the SDK's retry, or ours) then fails its own
 * condition. Each write is therefore either idempotent (its repeat passes its condition) or
 * recognisable (it records a token, and a failed condition is resolved by re-reading: see
 * own-write.ts). Nothing else is ever mistaken for success.
 */
export class ClusterStateRepo {
  private readonly pk: string;

  /**
   * @param token identifies this repo's process: its lease and its durable-position writes. A
   * restarted agent has a new one, so it never takes its predecessor's write for its own, and the
   * predecessor's late writes fail once the new process holds the lease.
   * @default a random UUID
   */
  constructor(
    private readonly store: StateStore,
    readonly clusterId: string,
    readonly token: string = randomUUID(),
  ) {
    this.pk = clusterPk(clusterId);
  }

  async read(): Promise<ClusterState | undefined> {
    const item = await this.store.get(this.pk, stateSk);
    return item && fromItem(this.clusterId, item);
  }

  /**
   * The state item with every epoch's start and handover. The state item's handover (the previous
   * epoch's) wins over a history item's: a claim writes the history item after the state item, so
   * a crash between the two leaves it only in the state item (the next claim copies it over).
   */
  async readHistory(): Promise<ClusterHistory | undefined> {
    const state = await this.read();
    if (!state) return undefined;
    const starts = new Map<number, TimelineStart>();
    const handovers = new Map<number, Handover>();
    for (const item of await this.store.query(this.pk, 'epoch#')) {
      if (typeof item.epoch !== 'number') continue;
      if (item.start) starts.set(item.epoch, item.start as unknown as TimelineStart);
      if (item.handover) handovers.set(item.epoch, item.handover as unknown as Handover);
    }
    starts.set(state.epoch, state.start);
    for (const h of state.handovers ?? []) handovers.set(h.epoch, h);
    return { state: { ...state, handovers: [...handovers.values()].sort((a, b) => a.epoch - b.epoch) }, starts };
  }

  /**
   * Sends `action`'s write. A failed condition is explained by re-reading: `own` (if given) tells
   * whether the stored item is this very write, landed by an earlier attempt whose response was
   * lost; otherwise the first failed guard becomes its error.
   */
  private async apply(action: ClusterAction, nowMs: number, own?: (current: ClusterState | undefined) => boolean): Promise<ClusterState> {
    const w = write(action, nowMs);
    try {
      return fromItem(this.clusterId, await this.store.update(this.pk, stateSk, w.set, w.condition));
    } catch (err) {
      if (!(err instanceof ConditionFailedError)) throw err;
      const current = await this.read();
      if (current && own?.(current)) return current;
      const d = decide(current, action, nowMs);
      // the guards hold now: what failed them has changed back since; the caller reads again
      if (d.ok) throw err;
      throw this.refusal(d.refusal, action, current, err);
    }
  }

  /** The error for a refused action, naming what refused it. */
  private refusal(kind: RefusalKind, action: ClusterAction, current: ClusterState | undefined, cause: ConditionFailedError): Error {
    const epoch = current?.epoch ?? 0;
    const ownEpoch = action.kind === 'advance' ? action.position.epoch : action.kind === 'claim-next' ? action.from : action.kind === 'claim-first' ? 1 : action.epoch;
    switch (kind) {
      case 'exists':
      case 'moved':
        return cause;
      case 'missing':
      case 'fenced':
        if (action.kind === 'claim-next') return new ConditionFailedError(cause.target, `claim epoch ${action.from + 1}: the cluster is at epoch ${current?.epoch ?? '(none)'}, not ${action.from}`, { cause });
        return new FencedError(this.clusterId, ownEpoch, epoch, { cause });
      case 'lease-live':
        return new LeaseLiveError(this.clusterId, current!.leaseHolder, current!.leaseExpiresAt, action.kind === 'claim-next' ? action.leaseMarginMs : 0, { cause });
      case 'not-primary': {
        const own = (action.kind === 'take-lease' || action.kind === 'begin-timeline') && action.primary ? describePrimary(action.primary) : '(not named)';
        return new NotPrimaryError(this.clusterId, epoch, current?.primary ? describePrimary(current.primary) : '(none)', own, { cause });
      }
      case 'start-pending':
        return new TimelinePendingError(this.clusterId, epoch, current?.primary ? describePrimary(current.primary) : '(none)', { cause });
      case 'started':
        return new TimelineStartedError(this.clusterId, epoch, current!.start, current!.durableSeq, { cause });
      case 'lease-held': {
        const holder = current?.leaseHolder || '(none)';
        const ours = 'holder' in action && current?.leaseHolder === action.holder;
        return new LeaseHeldError(this.clusterId, ours ? `${holder} (another process of this agent)` : holder, current?.leaseExpiresAt ?? 0, {
          cause,
          ...(ours ? { hint: 'Another process with this agent id holds the lease, or a process that is not known to be dead: one agent per server. Stop it, or wait for its lease to expire.' } : {}),
        });
      }
      case 'position-conflict':
        return new PositionConflictError(this.clusterId, action.kind === 'advance' ? action.previousSeq : -1, current?.durableSeq ?? -1, { cause });
      case 'status-changed':
      case 'not-allowed':
        return action.kind === 'set-status' ? new StatusChangeError(this.clusterId, action.from, action.to, current?.status ?? '(none)', { cause }) : cause;
    }
  }

  /**
   * Creates the cluster at epoch 1, starting at `start`, for `primary`, with the lease held by
   * `holder` (this repo's process); fails with ConditionFailedError if it exists. Recognisable: a
   * create-only write repeated after it landed fails, so the claim records `claimToken`, and a
   * failed condition is ours when the stored item has it and our start.
   * @param opts.claimToken names this one claim; a caller that retries the call passes the same one
   * to every attempt. @default a random UUID
   */
  async claimFirstEpoch(
    start: TimelineStart,
    holder: string,
    nowMs: number,
    leaseMs: number,
    opts: { claimToken?: string; primary?: PrimaryIdentity } = {},
  ): Promise<ClusterState> {
    const claimToken = opts.claimToken ?? randomUUID();
    const action: ClusterAction = { kind: 'claim-first', start, holder, leaseToken: this.token, leaseMs, claimToken, ...(opts.primary ? { primary: opts.primary } : {}) };
    const state = await this.apply(action, nowMs, (current) => isOwnClaim(current, 1, claimToken, start));
    // unconditional and the same on a repeat: idempotent
    await this.store.put({ pk: this.pk, sk: epochSk(1), epoch: 1, start: start as unknown as Value, createdAt: new Date(nowMs).toISOString() });
    return state;
  }

  /**
   * Fences epoch `from` and starts epoch `from + 1` for `opts.primary`, whose timeline begins at
   * `start` (the new primary's binlog position at promotion). Without `start` (a claim made
   * before the replacement restored, the failover order) the epoch is claimed `startPending`,
   * with a placeholder start (transition.ts pendingStart) that no agent streams from: promote
   * records the real one (`beginTimeline`). The durable position stays where
   * epoch `from` left it; the new epoch's chunks count from seq 1. The status becomes
   * `opts.status` (FAILING_OVER by default): the new primary's agent sets HEALTHY when it joins.
   *
   * The claim is one conditional write that also records the handover: epoch `from`'s durable
   * position at that moment (null when no chunk of it is durable). It is conditional on the epoch
   * still being `from` and the durable seq still being the one read, so the handover is exactly
   * where the old agent's last advance left it: of two claimers, one wins and the other gets
   * ConditionFailedError; an advance that lands between our read and our write makes us read again
   * (a few times, then ConditionFailedError). Every reader ends epoch `from` at the handover.
   *
   * It waits out the old epoch's lease: it fails with LeaseLiveError until the lease has expired
   * for `opts.leaseMarginMs`, unless the lease was released or `opts.force` (the old primary is
   * known stopped; fencing alone then keeps its agent from advancing).
   *
   * The handover goes into the state item (with the claim) and then into epoch `from`'s history
   * item. A crash between the two leaves it in the state item only; so before claiming, the
   * previous handover held by the state item is copied to its history item (idempotent), and no
   * handover is lost when the state item's is overwritten by this claim.
   *
   * Recognisable: a claim repeated after it landed fails (the epoch is no longer `from`), so it
   * records `claimToken`, and a failed condition is ours when the stored epoch is `from + 1` with
   * our token (and our start, when we gave one). Another claim of the same epoch, even from the same start and the same
   * process, is not: two callers must never both believe they claimed it.
   * @param opts.claimToken names this one claim; a caller that retries the call (after
   * UnavailableError) passes the same one to every attempt, e.g. the failover workflow's execution
   * id. @default a random UUID
   */
  async claimNextEpoch(
    from: number,
    start: TimelineStart | undefined,
    nowMs: number,
    opts: { claimToken?: string; primary?: PrimaryIdentity; leaseMarginMs?: number; force?: boolean; status?: 'FAILING_OVER' | 'RESTORING' | 'HEALTHY' } = {},
  ): Promise<ClusterState> {
    const epoch = from + 1;
    const claimToken = opts.claimToken ?? randomUUID();
    const own = (current: ClusterState | undefined) => isOwnClaim(current, epoch, claimToken, start);
    let claimed: ClusterState | undefined;
    for (let attempt = 0; !claimed; attempt++) {
      const before = await this.read();
      if (before && own(before)) {
        claimed = before; // an earlier attempt's claim landed; only its response was lost
        break;
      }
      if (!before || before.epoch !== from) throw new ConditionFailedError(`${this.pk}/${stateSk}`, `claim epoch ${epoch}: the cluster is at epoch ${before?.epoch ?? '(none)'}, not ${from}`);
      for (const h of before.handovers ?? []) await this.recordHandover(h);
      const action: ClusterAction = {
        kind: 'claim-next',
        from,
        seen: { durableSeq: before.durableSeq, durable: before.durable },
        ...(start ? { start } : {}),
        claimToken,
        leaseMarginMs: opts.leaseMarginMs ?? defaultLeaseMarginMs,
        ...(opts.primary ? { primary: opts.primary } : {}),
        ...(opts.force ? { force: true } : {}),
        ...(opts.status ? { status: opts.status } : {}),
      };
      try {
        claimed = await this.apply(action, nowMs, own);
      } catch (err) {
        if (!(err instanceof ConditionFailedError) || attempt >= 4) throw err;
        // the old agent advanced between our read and our write: read its new position and try again
        if ((await this.read())?.epoch !== from) throw err;
      }
    }
    for (const h of claimed.handovers ?? []) await this.recordHandover(h);
    // unconditional and the same on a repeat (the start as the claim stored it): idempotent
    await this.store.put({
      pk: this.pk,
      sk: epochSk(epoch),
      epoch,
      start: claimed.start as unknown as Value,
      ...(claimed.startPending ? { startPending: true } : {}),
      createdAt: new Date(nowMs).toISOString(),
    });
    return claimed;
  }

  /**
   * Records where epoch `epoch`'s timeline begins, claimed `startPending` for `primary`: `start`
   * is the new primary's binlog position before it takes its first write (`squirrel promote`).
   * Conditional on the epoch, on the claim naming exactly this server (else NotPrimaryError), and
   * on the epoch still pending with nothing durable (else TimelineStartedError). Then writes the
   * epoch's history item start too, as a claim does. Recognisable: a repeat after it landed fails
   * its condition (no longer pending) and is ours when the state holds our start for our server
   * (own-write.ts isOwnTimelineStart); the history write is idempotent.
   */
  async beginTimeline(epoch: number, primary: PrimaryIdentity, start: TimelineStart, nowMs: number): Promise<ClusterState> {
    const state = await this.apply({ kind: 'begin-timeline', epoch, primary, start }, nowMs, (current) => isOwnTimelineStart(current, epoch, primary, start));
    await this.store.update(this.pk, epochSk(epoch), { epoch, start: start as unknown as Value, startPending: false }, { or: [{ exists: false }, { field: 'epoch', eq: epoch }] });
    return state;
  }

  /** Writes a handover into its epoch's history item. Idempotent: the same value on every repeat. */
  private async recordHandover(h: Handover): Promise<void> {
    await this.store.update(this.pk, epochSk(h.epoch), { epoch: h.epoch, handover: h as unknown as Value }, { or: [{ exists: false }, { field: 'epoch', eq: h.epoch }] });
  }

  /**
   * Takes (or renews) the lease under `epoch` for this repo's process (`token`). This process
   * takes it back at once; so does a restart of the same holder when `opts.predecessorToken` (the
   * token of a process known dead, from its lock) still holds it; anyone else only after it
   * expires: LeaseHeldError. Only the agent of the epoch's primary may (`opts.primary`; an epoch
   * claimed for another server: NotPrimaryError). Idempotent: after it landed, its repeat passes
   * its own condition (the holder is now us).
   */
  async acquireLease(epoch: number, holder: string, nowMs: number, leaseMs: number, opts: { primary?: PrimaryIdentity; predecessorToken?: string } = {}): Promise<ClusterState> {
    return this.apply(
      {
        kind: 'take-lease',
        epoch,
        holder,
        leaseToken: this.token,
        leaseMs,
        ...(opts.primary ? { primary: opts.primary } : {}),
        ...(opts.predecessorToken ? { predecessorToken: opts.predecessorToken } : {}),
      },
      nowMs,
    );
  }

  /**
   * Gives the lease up (a graceful stop), so the next agent need not wait for it to expire.
   * Idempotent in effect: a repeat after it landed fails its condition (the holder is no longer
   * us) and is ignored, as is any failed condition: either way we no longer hold it.
   */
  async releaseLease(epoch: number, holder: string): Promise<void> {
    const w = write({ kind: 'release', epoch, holder, leaseToken: this.token }, 0);
    await this.store.update(this.pk, stateSk, w.set, w.condition).catch((err) => {
      if (!(err instanceof ConditionFailedError)) throw err;
    });
  }

  /**
   * Moves the durable position from `previousSeq` (by default the chunk just before) forward to
   * `position`, in one conditional write: it fails unless the epoch is still the position's, this
   * process still holds the lease, and the position is still at `previousSeq`.
   * Recognisable: the write records `durableBy` (holder and this repo's token), so a repeat of a
   * write that landed (its condition now fails) is told apart from a conflict, and calling advance
   * again with the same arguments after UnavailableError is safe.
   */
  async advance(holder: string, position: DurablePosition, previousSeq = position.seq - 1): Promise<void> {
    if (position.seq <= previousSeq) throw new PositionConflictError(this.clusterId, previousSeq, position.seq, { hint: 'The durable position only moves forward.' });
    await this.apply({ kind: 'advance', holder, leaseToken: this.token, position, previousSeq }, 0, (current) => isOwnAdvance(current, { holder, token: this.token }, position));
  }

  /**
   * Records liveness and what the agent sees of the server, renewing the lease. Idempotent: it
   * changes neither the epoch nor the holder it is conditional on, so its repeat passes too.
   */
  async heartbeat(epoch: number, holder: string, nowMs: number, leaseMs: number, report: AgentReport): Promise<ClusterState> {
    return this.apply({ kind: 'renew', epoch, holder, leaseToken: this.token, leaseMs, report }, nowMs);
  }

  /**
   * Changes the status from `from` to `to` under `epoch`, if the change is one a workflow may
   * make (transition.ts, statusChanges); else StatusChangeError, as when the status moved first.
   */
  async setStatus(epoch: number, from: ClusterStatus, to: ClusterStatus, nowMs: number): Promise<ClusterState> {
    const action: ClusterAction = { kind: 'set-status', epoch, from, to };
    const d = decide(await this.read(), action, nowMs);
    if (!d.ok && d.refusal === 'not-allowed') throw new StatusChangeError(this.clusterId, from, to, from);
    // idempotent: a repeat after it landed finds `to`, which is ours
    return this.apply(action, nowMs, (current) => current?.epoch === epoch && current.status === to);
  }

  /**
   * Records how a workflow that claimed `rec.epoch` ended (`squirrel status` shows it as
   * `lastFailover`). An older epoch's outcome never replaces a newer one's; a repeat is harmless.
   */
  async recordLastFailover(rec: LastFailover): Promise<void> {
    try {
      await this.store.put({ pk: this.pk, sk: lastFailoverSk, ...rec }, { or: [{ exists: false }, { field: 'epoch', lt: rec.epoch + 1 }] });
    } catch (err) {
      if (!(err instanceof ConditionFailedError)) throw err; // a newer failover's record is there
    }
  }

  async lastFailover(): Promise<LastFailover | undefined> {
    const item = await this.store.get(this.pk, lastFailoverSk);
    if (!item) return undefined;
    const { epoch, startedAt, endpointMovedAt, result, execution, reason } = item as unknown as LastFailover;
    return { epoch, startedAt, endpointMovedAt, result, execution, ...(reason !== undefined ? { reason } : {}) };
  }
}

/** How the last failover or primary-replacing restore ended (DESIGN.md: status's `lastFailover`). */
export interface LastFailover {
  /** The epoch it claimed for the replacement. */
  epoch: number;
  /** When the workflow started (ISO). */
  startedAt: string;
  /** When the endpoint pointed at the replacement; null when it never moved. */
  endpointMovedAt: string | null;
  result: 'SUCCEEDED' | 'FAILED';
  /** The workflow execution's name. */
  execution: string;
  /** Why it failed. */
  reason?: string;
}
