import type { PrimaryIdentity } from '../cluster/state.js';

/**
 * Where the cluster's clients connect: a private Route 53 record in AWS, the local TCP forwarder
 * in the local cluster.
 *
 * Contract:
 * - `point` is idempotent: pointing at the current target again changes nothing. It returns once
 *   the provider accepted the change (Route 53: the change is submitted; resolvers see it within
 *   the record's TTL).
 * - `current` is where the endpoint points now, or undefined when it was never pointed.
 */
export interface Endpoint {
  point(clusterId: string, target: PrimaryIdentity): Promise<void>;
  current(clusterId: string): Promise<{ host: string; port: number } | undefined>;
}
