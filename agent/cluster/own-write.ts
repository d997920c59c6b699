import { primaryKey, type ClusterState, type DurablePosition, type PrimaryIdentity, type TimelineStart } from './state.js';

/**
 * Telling our own write from someone else's, after a conditional write failed.
 *
 * The AWS SDK re-sends a request whose response it did not get (a 5xx, a timeout, a reset
 * connection), and so does our own retry after UnavailableError. When the first attempt had
 * landed, the repeat fails its own condition: the ConditionFailedError then reports our success,
 * not a conflict. The only way to know is to re-read the item and find the write's signature in
 * it: each moving write records who made it, exactly enough that no other write can look the same.
 */

/** Who wrote the durable position: the lease holder and the writing process's token. */
export interface Writer {
  holder: string;
  /** Random, one per ClusterStateRepo (one per process): a restart of the same holder differs. */
  token: string;
}

/**
 * True when `state` holds exactly the position this writer moved it to: the same epoch and seq,
 * the same position field by field (chunk key included), written by the same holder with the same
 * token. A zombie of the same holder (another token), another holder that wrote the same seq, or
 * a different position at that seq is a conflict, not ours.
 */
export function isOwnAdvance(state: ClusterState | undefined, by: Writer, position: DurablePosition): boolean {
  const d = state?.durable;
  return (
    state !== undefined &&
    state.epoch === position.epoch &&
    state.durableSeq === position.seq &&
    d != null &&
    (Object.keys(position) as (keyof DurablePosition)[]).every((k) => d[k] === position[k]) &&
    state.durableBy?.holder === by.holder &&
    state.durableBy.token === by.token
  );
}

const sameStart = (a: TimelineStart, b: TimelineStart) => a.file === b.file && a.pos === b.pos && a.gtid === b.gtid;

/**
 * True when `state` is the epoch claim that wrote `claimToken`: the epoch it claimed, with the
 * start it wrote (a claim without a start, `startPending`, is recognised by its token alone: the
 * placeholder it wrote depends on what it read). The token names one claim (not a process), so
 * that another claim of the same epoch from the same start is never taken for ours; a caller's
 * retries reuse it.
 */
export function isOwnClaim(state: ClusterState | undefined, epoch: number, claimToken: string, start: TimelineStart | undefined): boolean {
  return state !== undefined && state.epoch === epoch && state.claimToken === claimToken && (start === undefined || sameStart(state.start, start));
}

/**
 * True when `state` holds the timeline start `begin-timeline` wrote for `primary`: the epoch, no
 * longer pending, claimed for the same server, starting exactly at `start`. A repeat of one
 * promotion writes the same start (it read the server's position once); another promotion of the
 * same server would have rotated its binlog to another file, so it is not taken for this one.
 */
export function isOwnTimelineStart(state: ClusterState | undefined, epoch: number, primary: PrimaryIdentity, start: TimelineStart): boolean {
  return (
    state !== undefined &&
    state.epoch === epoch &&
    !state.startPending &&
    state.primary !== undefined &&
    primaryKey(state.primary) === primaryKey(primary) &&
    sameStart(state.start, start)
  );
}
