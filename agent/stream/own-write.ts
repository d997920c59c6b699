import type { ClusterState, DurablePosition, TimelineStart } from './cluster-state.js';

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
 * True when `state` holds exactly the position this writer moved it to: same epoch, seq and
 * chunk key, written by the same holder with the same token. A zombie of the same holder (another
 * token) or another holder that wrote the same seq is a conflict, not ours.
 */
export function isOwnAdvance(state: ClusterState | undefined, by: Writer, position: DurablePosition): boolean {
  return (
    state !== undefined &&
    state.epoch === position.epoch &&
    state.durableSeq === position.seq &&
    state.durable?.key === position.key &&
    state.durableBy?.holder === by.holder &&
    state.durableBy.token === by.token
  );
}

/**
 * True when `state` is the epoch claim this claimer wrote: the epoch it claimed, with the start it
 * wrote and its token (so another claimer of the same epoch from the same start is not us). The
 * token is the repo's, not the call's, so that a retry of the call still finds the first attempt.
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
