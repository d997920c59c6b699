import type { PrimaryIdentity } from '../cluster/state.js';

/**
 * The machines a cluster's database runs on: EC2 instances in AWS, process groups (mariadbd and
 * agent) in the local cluster. The control plane's workflows reach them only through this port,
 * so they do not know which.
 */

/**
 * What an instance is doing, as the control plane cares: `running` may hold a live primary;
 * `stopping`/`stopped`/`terminated` cannot take writes any more (a stop in progress may still
 * hang on an impaired host: see Compute.stop); `missing` is an id the provider does not know.
 */
export type InstanceState = 'pending' | 'running' | 'stopping' | 'stopped' | 'terminated' | 'missing';

/** The states in which an instance's server can no longer take a write. */
export const deadInstanceStates: readonly InstanceState[] = ['stopping', 'stopped', 'terminated', 'missing'];

/** What a new instance does once it boots. */
export type InstanceJob =
  /** A fresh, empty server whose agent claims the cluster's first epoch (a new cluster). */
  | { kind: 'new-primary' }
  /** Restore to `target`, promote under the epoch claimed for it, and run the agent (a failover, or restore replace-primary). */
  | { kind: 'restore-and-promote'; target: RestoreTarget }
  /** Restore to `target` and stop there: a copy beside the primary (restore new-instance). */
  | { kind: 'restore-only'; target: RestoreTarget };

/** Where a restore stops: everything durable, a point in time, or a GTID position (every domain). */
export type RestoreTarget = 'latest' | { time: string } | { gtid: string };

/**
 * An address reserved for a replacement before it exists, so that the epoch can be claimed for
 * it (the claim names the server the epoch belongs to) before it is launched: an elastic network
 * interface in AWS, a port in the local cluster.
 */
export interface Reservation {
  /** The provider's id of the reservation (an ENI id), passed back to `launch`. */
  id: string;
  /** The server as the claim names it and as its agent and `squirrel promote` will name themselves. */
  identity: PrimaryIdentity;
}

export interface LaunchRequest {
  clusterId: string;
  /** The epoch the instance is launched for (its claim, for restore-and-promote). */
  epoch: number;
  reservation: Reservation;
  job: InstanceJob;
  /**
   * Names this one launch: a repeat with the same token (a retried task) returns the same
   * instance instead of starting a second one.
   */
  token: string;
}

export interface LaunchedInstance {
  instanceId: string;
  identity: PrimaryIdentity;
}

/**
 * Contract:
 * - `reserve` and `launch` are idempotent per `token`: a repeat returns what the first call did.
 * - `launch` returns once the provider accepted the instance; it does not wait for the job. The
 *   job reports through the cluster state (the new epoch's primary takes the lease), never
 *   through this port.
 * - `stop` asks for a stop and returns; with `force` the provider does not wait for the guest OS.
 *   Stopping an instance that is already stopped or terminated is not an error. A forced stop can
 *   still hang for a long time on an impaired host: callers bound their wait on `describe`.
 * - `describe` of an id the provider does not know is `missing`, not an error.
 */
export interface Compute {
  reserve(req: { clusterId: string; epoch: number; token: string }): Promise<Reservation>;
  launch(req: LaunchRequest): Promise<LaunchedInstance>;
  stop(instanceId: string, opts: { force: boolean }): Promise<void>;
  describe(instanceId: string): Promise<InstanceState>;
}
