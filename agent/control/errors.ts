import { SquirrelError, type ErrorDetails } from '../errors.js';

/**
 * The control plane's own failures. A workflow's Retry and Catch match them by class name (the
 * error's `name`, which Lambda reports as the error type), so renaming one is a change to the
 * state machines too (infra/workflows/).
 */

/** The cluster is not at the epoch the workflow was started to replace: someone else moved it. */
export class EpochMovedError extends SquirrelError {
  readonly code = 'EPOCH_MOVED';
  constructor(readonly clusterId: string, readonly expected: number, readonly found: number | undefined, details: ErrorDetails = {}) {
    super(`cluster ${clusterId} is at epoch ${found ?? '(none)'}, not ${expected}: another workflow or a person moved it`, {
      hint: 'Nothing was claimed. Read `squirrel status` and start a new workflow if the cluster still needs one.',
      ...details,
    });
  }
}

/** The replacement did not become the new epoch's primary in time, or its instance died. */
export class PromotionFailedError extends SquirrelError {
  readonly code = 'PROMOTION_FAILED';
  constructor(readonly clusterId: string, readonly epoch: number, reason: string, details: ErrorDetails = {}) {
    super(`cluster ${clusterId}: epoch ${epoch} was not promoted: ${reason}`, {
      hint: "The endpoint was not moved. Read the replacement's restore and promote logs; `squirrel status` shows the epoch, still claimed for it.",
      ...details,
    });
  }
}

/** A workflow task was given an input it cannot use (a definition and a handler that disagree). */
export class TaskInputError extends SquirrelError {
  readonly code = 'TASK_INPUT';
  constructor(readonly task: string, problems: string, details: ErrorDetails = {}) {
    super(`${task}: invalid input: ${problems}`, { hint: 'The state machine and its Lambda handlers come from different versions; deploy them together.', ...details });
  }
}
