import type { Compute } from '../ports/compute.js';
import type { Endpoint } from '../ports/endpoint.js';
import type { Notifier } from '../ports/notifier.js';
import type { StateStore } from '../ports/state-store.js';
import type { WorkflowStarter } from '../ports/workflow-starter.js';
import { defaultLeaseMarginMs } from '../cluster/repo.js';

/** The control plane's tunables, each with its reason. */
export interface ControlSettings {
  /** The claim's wait after the old lease's expiry (repo.ts defaultLeaseMarginMs). */
  leaseMarginMs: number;
  /** A heartbeat older than this is stale (a few of the agent's heartbeat intervals). */
  staleAfterMs: number;
  /** How long fencing waits for a forced stop to finish; a stop on an impaired host can hang, and the claim has fenced the agent already. */
  fenceWaitMs: number;
  fencePollMs: number;
  /** The promotion wait's polls (the state machine's Wait between them) before the failover gives up. */
  maxPromotionPolls: number;
}

export const defaultControlSettings: ControlSettings = {
  leaseMarginMs: defaultLeaseMarginMs,
  staleAfterMs: 60_000,
  fenceWaitMs: 60_000,
  fencePollMs: 2_000,
  maxPromotionPolls: 180,
};

/**
 * Everything a control-plane handler acts through. Built once per process: from environment
 * variables and AWS clients in a Lambda (lambdas/aws-wiring.ts), from local stand-ins in tests and
 * the local cluster. Handlers read no clock and no environment of their own.
 */
export interface ControlPlane {
  stateStore: StateStore;
  compute: Compute;
  endpoint: Endpoint;
  notifier: Notifier;
  starter: WorkflowStarter;
  now(): number;
  sleep(ms: number): Promise<void>;
  settings: ControlSettings;
}
