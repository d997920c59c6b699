import { z } from 'zod';
import { TaskInputError } from './errors.js';

/**
 * The JSON a failover or restore execution carries from step to step (JSONPath: each task's
 * result lands under its own key, `ResultPath: $.<key>`), and the event every task handler gets:
 * `{ executionName, state }`. One schema, so the state machines (infra/workflows/) and the
 * handlers (lambdas/) agree on it.
 */

const identity = z.object({ instanceId: z.string().optional(), host: z.string().min(1), port: z.number().int().min(1).max(65535) });

export const restoreTarget = z.union([z.literal('latest'), z.object({ time: z.iso.datetime({ offset: true }) }), z.object({ gtid: z.string().min(1) })]);

export const workflowState = z.object({
  clusterId: z.string().min(1),
  /** Failover: the epoch it replaces. Restore: absent (the current one when it claims). */
  epoch: z.number().int().min(1).optional(),
  reason: z.string().optional(),
  /** Restore only. */
  target: restoreTarget.optional(),
  mode: z.enum(['replace-primary', 'new-instance']).optional(),
  claim: z
    .object({
      from: z.number().int(),
      epoch: z.number().int(),
      replacement: z.object({ id: z.string(), identity }),
      oldInstanceId: z.string().nullable(),
      forced: z.boolean(),
    })
    .optional(),
  fence: z.object({ stopped: z.boolean(), detail: z.string() }).optional(),
  launch: z.object({ instanceId: z.string(), identity }).optional(),
  promotion: z.object({ promoted: z.boolean(), polls: z.number().int(), detail: z.string() }).optional(),
  endpoint: z.object({ host: z.string(), port: z.number().int(), movedAt: z.string() }).optional(),
  /** What a Catch put there: Step Functions' `{Error, Cause}`. */
  error: z.object({ Error: z.string(), Cause: z.string().optional() }).optional(),
  failed: z.object({ marked: z.boolean(), detail: z.string() }).optional(),
});

export type WorkflowState = z.infer<typeof workflowState>;

/** `startedAt`: the execution's start time (`$$.Execution.StartTime`). */
export const taskEvent = z.object({ executionName: z.string().min(1), startedAt: z.string().optional(), state: workflowState });
export type TaskEvent = z.infer<typeof taskEvent>;

/** The event parsed, or TaskInputError naming the task and every problem. */
export function parseTaskEvent(task: string, event: unknown): TaskEvent {
  const r = taskEvent.safeParse(event);
  if (!r.success) throw new TaskInputError(task, r.error.issues.map((i) => `${i.path.join('.') || '(event)'}: ${i.message}`).join('; '));
  return r.data;
}

/** The step's result in `state`, or TaskInputError when the step that makes it has not run. */
export function need<K extends keyof WorkflowState>(task: string, state: WorkflowState, key: K): NonNullable<WorkflowState[K]> {
  const v = state[key];
  if (v === undefined || v === null) throw new TaskInputError(task, `state.${String(key)} is missing (its step has not run)`);
  return v as NonNullable<WorkflowState[K]>;
}
