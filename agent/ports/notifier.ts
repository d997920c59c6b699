/** A message for the people who run the cluster. */
export interface Notification {
  clusterId: string;
  /** Short, one line: what happened (an SNS subject is at most 100 characters). */
  subject: string;
  /** What happened, what the control plane did, and what a person should do, if anything. */
  message: string;
}

/**
 * Tells people what the control plane did: SNS in AWS, a log in the local cluster.
 *
 * Contract: at least once. A retried task may publish the same notification twice; readers
 * tell them apart by the subject's execution name.
 */
export interface Notifier {
  publish(n: Notification): Promise<void>;
}
