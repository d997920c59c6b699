import type { ClusterState, DurablePosition, TimelineStart } from './state.js';

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

/**
 * True when `state` is the epoch claim that wrote `claimToken`: the epoch it claimed, with the
 * start it wrote. The token names one claim (not a process), so that another claim of the same
 * epoch from the same start is never taken for ours; a caller's retries reuse it.
 */
export function isOwnClaim(state: ClusterState | undefined, epoch: number, claimToken: string, start: TimelineStart): boolean {
  return (
    state !== undefined &&
    state.epoch === epoch &&
    state.claimToken === claimToken &&
    state.start.file === start.file &&
    state.start.pos === start.pos &&
    state.start.gtid === start.gtid
  );
}
