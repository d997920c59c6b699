import { Duration } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';

/** The handler files of lambdas/, each one Lambda function. */
export const handlerFiles = [
  'claim-epoch',
  'fence-old',
  'launch-replacement',
  'await-promotion',
  'move-endpoint',
  'notify',
  'mark-failed',
  'ec2-state-change',
  'heartbeat-check',
] as const;
export type HandlerFile = (typeof handlerFiles)[number];

export interface ControlFunctionsProps {
  /** The code of every handler: a directory holding `lambdas/<file>.js`. */
  readonly code: lambda.Code;
  /** Environment of every function (the table, the ports' settings). */
  readonly environment: Record<string, string>;
}

/** Seconds a handler may run. Fencing waits out a forced stop (ControlSettings.fenceWaitMs), the rest are a few calls. */
const timeoutSeconds: Partial<Record<HandlerFile, number>> = { 'fence-old': 120 };

/** One Lambda function per handler file of lambdas/, on Node 22 (20 is deprecated on Lambda). */
export class ControlFunctions extends Construct {
  readonly byFile: Record<HandlerFile, lambda.Function>;

  constructor(scope: Construct, id: string, props: ControlFunctionsProps) {
    super(scope, id);
    const fns = {} as Record<HandlerFile, lambda.Function>;
    for (const file of handlerFiles) {
      fns[file] = new lambda.Function(this, file.replace(/(^|-)(\w)/g, (_m, _d, c: string) => c.toUpperCase()), {
        runtime: lambda.Runtime.NODEJS_22_X,
        code: props.code,
        handler: `lambdas/${file}.handler`,
        timeout: Duration.seconds(timeoutSeconds[file] ?? 30),
        memorySize: 256,
        environment: props.environment,
      });
    }
    this.byFile = fns;
  }
}
