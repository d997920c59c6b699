/**
 * The state store keeps the few items that must be agreed on: a cluster's state (epoch, lease,
 * durable position, heartbeat) and per-epoch history. DynamoDB in AWS; memory in unit tests.
 *
 * Items are flat records of JSON-able scalars plus nested plain objects, addressed by a
 * partition key `pk` and a sort key `sk`.
 *
 * Contract:
 * - Reads are strongly consistent.
 * - Every write that moves state is conditional. A failed condition throws ConditionFailedError
 *   and is never retried by the adapter: the caller must re-read and decide.
 * - A write may be applied more than once: an adapter's transport (the AWS SDK) re-sends a request
 *   whose response was lost. If the first attempt landed, the repeat fails its condition, so
 *   ConditionFailedError can stand for the caller's own success. Callers make every conditional
 *   write either idempotent (its repeat passes its condition) or recognisable (it records a token
 *   the caller re-reads); see agent/cluster/own-write.ts.
 * - Transient failures throw UnavailableError (retryable): the write may or may not have happened;
 *   the caller re-reads to find out.
 */
export type Scalar = string | number | boolean | null;
export type Value = Scalar | Value[] | { [key: string]: Value };
export type Item = { pk: string; sk: string } & { [field: string]: Value };

/** A condition on top-level fields of the item as currently stored. */
export type Condition =
  | { exists: false }
  | { exists: true }
  | { field: string; eq: Scalar }
  | { field: string; lt: number | string }
  | { field: string; absent: true }
  | { and: Condition[] }
  | { or: Condition[] };

export interface StateStore {
  get(pk: string, sk: string): Promise<Item | undefined>;
  /** All items with this partition key and, optionally, a sort key prefix, in sort key order. */
  query(pk: string, skPrefix?: string): Promise<Item[]>;
  /** Writes the whole item when `condition` holds (no condition: unconditional). */
  put(item: Item, condition?: Condition): Promise<void>;
  /**
   * Sets the given top-level fields (null removes nothing: it stores null) when `condition`
   * holds, creating the item if absent and the condition allows. Returns the item after the write.
   */
  update(pk: string, sk: string, set: Record<string, Value>, condition: Condition): Promise<Item>;
  delete(pk: string, sk: string, condition?: Condition): Promise<void>;
}
