import { Duration } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import type { HandlerFile } from '../../control-functions.js';

/** How long the steps wait and how often they retry, each bounded. */
export interface StepTimings {
  /** Between two ClaimNextEpoch attempts refused by a live lease. @default 5 s */
  readonly claimRetryInterval?: Duration;
  /** ClaimNextEpoch attempts while the lease is live (their product bounds the wait: a lease plus its margin). @default 12 */
  readonly claimMaxAttempts?: number;
  /** Between two promotion polls. @default 5 s */
  readonly promotionPollInterval?: Duration;
}

/**
 * The states the failover and restore workflows share, built in the workflow's own scope. Every
 * task gets `{executionName, state}` (agent/control/workflow-state.ts) and puts its result under
 * its own key; every task but the last resort catches into MarkFailed → NotifyFailure → Fail.
 */
export class WorkflowSteps {
  private readonly failure: sfn.IChainable;

  constructor(
    private readonly scope: Construct,
    private readonly fns: Record<HandlerFile, lambda.IFunction>,
    private readonly prefix: string,
    private readonly timings: StepTimings = {},
  ) {
    const fail = new sfn.Fail(scope, `${prefix}Failed`, { error: `${prefix}Failed`, cause: 'a step failed; MarkFailed and NotifyFailure have the reason' });
    const notifyFailure = this.invoke('NotifyFailure', 'notify', 'notified');
    notifyFailure.addCatch(fail, { resultPath: '$.notifyError' });
    const markFailed = this.invoke('MarkFailed', 'mark-failed', 'failed');
    markFailed.addCatch(notifyFailure, { resultPath: '$.markError' });
    this.failure = markFailed.next(notifyFailure).next(fail);
  }

  /** A Lambda task: `{executionName, state}` in, the result at `$.<resultKey>`, transient failures retried. */
  invoke(id: string, file: HandlerFile, resultKey: string): tasks.LambdaInvoke {
    const task = new tasks.LambdaInvoke(this.scope, id, {
      lambdaFunction: this.fns[file],
      payloadResponseOnly: true,
      payload: sfn.TaskInput.fromObject({ executionName: sfn.JsonPath.executionName, startedAt: sfn.JsonPath.stringAt('$$.Execution.StartTime'), state: sfn.JsonPath.entirePayload }),
      resultPath: `$.${resultKey}`,
    });
    task.addRetry({ errors: ['UnavailableError'], interval: Duration.seconds(2), maxAttempts: 3, backoffRate: 2 });
    return task;
  }

  /** `invoke`, with a failure going to MarkFailed (the reason at `$.error`). */
  step(id: string, file: HandlerFile, resultKey: string): tasks.LambdaInvoke {
    const task = this.invoke(id, file, resultKey);
    task.addCatch(this.failure, { resultPath: '$.error' });
    return task;
  }

  /**
   * Claim → fence → launch → await promotion → move the endpoint → notify. The endpoint moves
   * only after AwaitPromotion found the replacement promoted and HEALTHY; any failure before
   * leaves it where it was.
   */
  replacePrimary(): sfn.IChainable {
    const t = this.timings;
    const claim = this.step('ClaimNextEpoch', 'claim-epoch', 'claim');
    claim.addRetry({ errors: ['LeaseLiveError'], interval: t.claimRetryInterval ?? Duration.seconds(5), maxAttempts: t.claimMaxAttempts ?? 12, backoffRate: 1 });
    const fence = this.step('FenceOldPrimary', 'fence-old', 'fence');
    const launch = this.step('LaunchReplacement', 'launch-replacement', 'launch');
    const awaitPromotion = this.step('AwaitPromotion', 'await-promotion', 'promotion');
    const wait = new sfn.Wait(this.scope, 'WaitForPromotion', { time: sfn.WaitTime.duration(t.promotionPollInterval ?? Duration.seconds(5)) });
    const move = this.step('MoveEndpoint', 'move-endpoint', 'endpoint');
    const notify = this.step('Notify', 'notify', 'notified');
    const done = new sfn.Succeed(this.scope, `${this.prefix}Done`);
    const promoted = new sfn.Choice(this.scope, 'Promoted?')
      .when(sfn.Condition.booleanEquals('$.promotion.promoted', true), move.next(notify).next(done))
      .otherwise(wait.next(awaitPromotion));
    return claim.next(fence).next(launch).next(awaitPromotion).next(promoted);
  }
}
