import { randomUUID } from 'node:crypto';
import { ConditionFailedError, FencedError, LeaseHeldError, PositionConflictError } from '../errors.js';
import { clusterPk, epochSk, stateSk } from '../keys.js';
import type { Item, StateStore, Value } from '../ports/state-store.js';
import { isOwnAdvance, isOwnClaim, type Writer } from './own-write.js';

/** The last chunk that is in the object store. Moves only forward, only under the current epoch. */
export interface DurablePosition {
  epoch: number;
  seq: number;
  file: string;
  /** File offset just past the chunk's last event. */
  end: number;
  /** Last GTID in the chunk ('' when the chunk holds none). */
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

export type ClusterStatus = 'HEALTHY' | 'FAILING_OVER' | 'RESTORING' | 'FAILED';

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
  /** '' when nobody holds the lease. */
  leaseHolder: string;
  /** Epoch milliseconds. */
  leaseExpiresAt: number;
  heartbeatAt: string | null;
  /** What the agent last saw of the server, for lag reporting. */
  server: { file: string; pos: number; at: string } | null;
  /** Seconds from the oldest event not yet durable to the heartbeat (0 when caught up). */
  lagSeconds?: number;
  /** Who wrote `durable` (absent on items written before writers were recorded). */
  durableBy?: Writer;
  /** The token of the claim that started the current epoch (absent on older items). */
  claimToken?: string;
  /**
   * The handovers of older epochs this reader knows: the state item's own (`handover`, the
   * previous epoch's, written by the claim of the current one) and, when read with `readHistory`,
   * those of the history items. An older epoch without one (a cluster claimed before handovers
   * were recorded) is read as before: to its newest chunk, with a warning (chain.ts).
   */
  handovers?: Handover[];
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

function fromItem(clusterId: string, item: Item): ClusterState {
  return {
    clusterId,
    epoch: item.epoch as number,
    status: item.status as ClusterStatus,
    durable: (item.durable ?? null) as unknown as DurablePosition | null,
    durableSeq: item.durableSeq as number,
    start: item.start as unknown as TimelineStart,
    leaseHolder: (item.leaseHolder ?? '') as string,
    leaseExpiresAt: (item.leaseExpiresAt ?? 0) as number,
    heartbeatAt: (item.heartbeatAt ?? null) as string | null,
    server: (item.server ?? null) as unknown as ClusterState['server'],
    ...(typeof item.lagSeconds === 'number' ? { lagSeconds: item.lagSeconds } : {}),
    ...(item.durableBy ? { durableBy: item.durableBy as unknown as Writer } : {}),
    ...(typeof item.claimToken === 'string' ? { claimToken: item.claimToken } : {}),
    ...(item.handover ? { handovers: [item.handover as unknown as Handover] } : {}),
  };
}

/**
 * The cluster's state item and its rules. Every write is conditional on the epoch (fencing) and
 * on the lease holder; the durable position is additionally conditional on the previous seq, so it
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
   * @param token identifies this repo's durable-position writes; one per process: a restarted
   * agent has a new one, so it never takes its predecessor's write for its own.
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
   * Creates the cluster at epoch 1, starting at `start`; fails with ConditionFailedError if it
   * exists. Recognisable: a create-only put repeated after it landed fails, so the claim records
   * `claimToken`, and a failed condition is ours when the stored item has it and our start.
   * @param claimToken names this one claim; a caller that retries the call passes the same one to
   * every attempt. @default a random UUID
   */
  async claimFirstEpoch(start: TimelineStart, holder: string, nowMs: number, leaseMs: number, claimToken: string = randomUUID()): Promise<ClusterState> {
    const item: Item = {
      pk: this.pk,
      sk: stateSk,
      epoch: 1,
      status: 'HEALTHY',
      durable: null,
      durableSeq: 0,
      start: start as unknown as Value,
      leaseHolder: holder,
      leaseExpiresAt: nowMs + leaseMs,
      heartbeatAt: new Date(nowMs).toISOString(),
      server: null,
      claimToken,
    };
    let state = fromItem(this.clusterId, item);
    try {
      await this.store.put(item, { exists: false });
    } catch (err) {
      const current = err instanceof ConditionFailedError ? await this.read() : undefined;
      if (!current || !isOwnClaim(current, 1, claimToken, start)) throw err;
      state = current; // an earlier attempt's claim: its lease time, not this attempt's
    }
    // unconditional and the same on a repeat: idempotent
    await this.store.put({ pk: this.pk, sk: epochSk(1), epoch: 1, start: start as unknown as Value, createdAt: new Date(nowMs).toISOString() });
    return state;
  }

  /**
   * Fences epoch `from` and starts epoch `from + 1`, whose timeline begins at `start` (the new
   * primary's binlog position at promotion). The durable position stays where epoch `from` left
   * it; the new epoch's chunks count from seq 1.
   *
   * The claim is one conditional write that also records the handover: epoch `from`'s durable
   * position at that moment (null when no chunk of it is durable). It is conditional on the epoch
   * still being `from` and the durable seq still being the one read, so the handover is exactly
   * where the old agent's last advance left it: of two claimers, one wins and the other gets
   * ConditionFailedError; an advance that lands between our read and our write makes us read again
   * (a few times, then ConditionFailedError). Every reader ends epoch `from` at the handover.
   *
   * The handover goes into the state item (with the claim) and then into epoch `from`'s history
   * item. A crash between the two leaves it in the state item only; so before claiming, the
   * previous handover held by the state item is copied to its history item (idempotent), and no
   * handover is lost when the state item's is overwritten by this claim.
   *
   * Recognisable: a claim repeated after it landed fails (the epoch is no longer `from`), so it
   * records `claimToken`, and a failed condition is ours when the stored epoch is `from + 1` with
   * our start and token. Another claim of the same epoch, even from the same start and the same
   * process, is not: two callers must never both believe they claimed it.
   * @param claimToken names this one claim; a caller that retries the call (after UnavailableError)
   * passes the same one to every attempt, e.g. the failover workflow's execution id. @default a random UUID
   */
  async claimNextEpoch(from: number, start: TimelineStart, nowMs: number, claimToken: string = randomUUID()): Promise<ClusterState> {
    const epoch = from + 1;
    let state: ClusterState | undefined;
    for (let attempt = 0; !state; attempt++) {
      const before = await this.read();
      if (before && isOwnClaim(before, epoch, claimToken, start)) {
        state = before; // an earlier attempt's claim landed; only its response was lost
        break;
      }
      if (!before || before.epoch !== from) throw new ConditionFailedError(`${this.pk}/${stateSk}`, `claim epoch ${epoch}: the cluster is at epoch ${before?.epoch ?? '(none)'}, not ${from}`);
      for (const h of before.handovers ?? []) await this.recordHandover(h);
      const handover: Handover = { epoch: from, durable: before.durable && before.durable.epoch === from ? before.durable : null, at: new Date(nowMs).toISOString() };
      try {
        const item = await this.store.update(
          this.pk,
          stateSk,
          { epoch, durableSeq: 0, start: start as unknown as Value, leaseHolder: '', leaseExpiresAt: 0, status: 'HEALTHY', claimToken, handover: handover as unknown as Value },
          { and: [{ field: 'epoch', eq: from }, { field: 'durableSeq', eq: before.durableSeq }] },
        );
        state = fromItem(this.clusterId, item);
      } catch (err) {
        const current = err instanceof ConditionFailedError ? await this.read() : undefined;
        if (current && isOwnClaim(current, epoch, claimToken, start)) state = current;
        // the old agent advanced between our read and our write: read its new position and try again
        else if (!current || current.epoch !== from || attempt >= 4) throw err;
      }
    }
    for (const h of state.handovers ?? []) await this.recordHandover(h);
    // unconditional and the same on a repeat: idempotent
    await this.store.put({ pk: this.pk, sk: epochSk(epoch), epoch, start: start as unknown as Value, createdAt: new Date(nowMs).toISOString() });
    return state;
  }

  /** Writes a handover into its epoch's history item. Idempotent: the same value on every repeat. */
  private async recordHandover(h: Handover): Promise<void> {
    await this.store.update(this.pk, epochSk(h.epoch), { epoch: h.epoch, handover: h as unknown as Value }, { or: [{ exists: false }, { field: 'epoch', eq: h.epoch }] });
  }

  /**
   * Takes (or renews) the lease under `epoch`. The same holder takes it back at once (a restart
   * after kill -9); anyone else only after it expires. Idempotent: after it landed, its repeat
   * passes its own condition (the holder is now us).
   */
  async acquireLease(epoch: number, holder: string, nowMs: number, leaseMs: number): Promise<ClusterState> {
    try {
      const item = await this.store.update(
        this.pk,
        stateSk,
        { leaseHolder: holder, leaseExpiresAt: nowMs + leaseMs },
        {
          and: [
            { field: 'epoch', eq: epoch },
            { or: [{ field: 'leaseHolder', eq: '' }, { field: 'leaseHolder', eq: holder }, { field: 'leaseExpiresAt', lt: nowMs }] },
          ],
        },
      );
      return fromItem(this.clusterId, item);
    } catch (err) {
      if (!(err instanceof ConditionFailedError)) throw err;
      const current = await this.read();
      if (!current || current.epoch !== epoch) throw new FencedError(this.clusterId, epoch, current?.epoch ?? 0, { cause: err });
      throw new LeaseHeldError(this.clusterId, current.leaseHolder || '(none)', current.leaseExpiresAt, { cause: err });
    }
  }

  /**
   * Gives the lease up (a graceful stop), so the next agent need not wait for it to expire.
   * Idempotent in effect: a repeat after it landed fails its condition (the holder is no longer
   * us) and is ignored, as is any failed condition: either way we no longer hold it.
   */
  async releaseLease(epoch: number, holder: string): Promise<void> {
    await this.store
      .update(this.pk, stateSk, { leaseHolder: '', leaseExpiresAt: 0 }, { and: [{ field: 'epoch', eq: epoch }, { field: 'leaseHolder', eq: holder }] })
      .catch((err) => {
        if (!(err instanceof ConditionFailedError)) throw err;
      });
  }

  /** Explains why a write under (epoch, holder) was refused: fenced, or the lease was lost. */
  private refusal(epoch: number, holder: string, cause: unknown, current: ClusterState | undefined): Error {
    if (!current || current.epoch !== epoch) return new FencedError(this.clusterId, epoch, current?.epoch ?? 0, { cause });
    if (current.leaseHolder !== holder) return new LeaseHeldError(this.clusterId, current.leaseHolder || '(none)', current.leaseExpiresAt, { cause });
    return cause as Error;
  }

  /**
   * Moves the durable position from `previousSeq` (by default the chunk just before) forward to
   * `position`, in one conditional write: it fails unless the position is still at `previousSeq`.
   * Recognisable: the write records `durableBy` (holder and this repo's token), so a repeat of a
   * write that landed (its condition now fails) is told apart from a conflict, and calling advance
   * again with the same arguments after UnavailableError is safe.
   */
  async advance(holder: string, position: DurablePosition, previousSeq = position.seq - 1): Promise<void> {
    if (position.seq <= previousSeq) throw new PositionConflictError(this.clusterId, previousSeq, position.seq, { hint: 'The durable position only moves forward.' });
    const by: Writer = { holder, token: this.token };
    try {
      await this.store.update(this.pk, stateSk, { durable: position as unknown as Value, durableSeq: position.seq, durableBy: by as unknown as Value }, {
        and: [{ field: 'epoch', eq: position.epoch }, { field: 'durableSeq', eq: previousSeq }, { field: 'leaseHolder', eq: holder }],
      });
    } catch (err) {
      if (!(err instanceof ConditionFailedError)) throw err;
      const current = await this.read();
      if (isOwnAdvance(current, by, position)) return; // our earlier attempt landed; only its response was lost
      const refusal = this.refusal(position.epoch, holder, err, current);
      if (refusal !== err) throw refusal;
      throw new PositionConflictError(this.clusterId, previousSeq, current?.durableSeq ?? -1, { cause: err });
    }
  }

  /**
   * Records liveness and what the agent sees of the server, renewing the lease. Idempotent: it
   * changes neither the epoch nor the holder it is conditional on, so its repeat passes too.
   */
  async heartbeat(epoch: number, holder: string, nowMs: number, leaseMs: number, server: ClusterState['server'], lagSeconds = 0): Promise<ClusterState> {
    try {
      const item = await this.store.update(
        this.pk,
        stateSk,
        { heartbeatAt: new Date(nowMs).toISOString(), leaseExpiresAt: nowMs + leaseMs, server: server as unknown as Value, lagSeconds },
        { and: [{ field: 'epoch', eq: epoch }, { field: 'leaseHolder', eq: holder }] },
      );
      return fromItem(this.clusterId, item);
    } catch (err) {
      if (!(err instanceof ConditionFailedError)) throw err;
      throw this.refusal(epoch, holder, err, await this.read());
    }
  }
}
