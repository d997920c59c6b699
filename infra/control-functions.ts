import { join } from 'node:path';
import { Duration, Validations } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { esbuildAsset, repoRoot } from './private/esbuild.js';

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

/**
 * The handlers bundled at synth time by the local esbuild: `lambdas/<file>.mjs` per handler file
 * (so each function's handler stays `lambdas/<file>.handler`, what the local runner maps back to
 * its file), the code they share in `chunks/`. Offline, no Docker.
 */
export function bundledHandlers(): lambda.Code {
  const entryPoints = Object.fromEntries(handlerFiles.map((file) => [`lambdas/${file}`, `lambdas/${file}.ts`]));
  return lambda.Code.fromAsset(join(repoRoot, 'lambdas'), esbuildAsset({ entryPoints, splitting: true }));
}

export interface ControlFunctionsProps {
  /**
   * The code of every handler: a directory holding `lambdas/<file>.mjs` (or `.js`).
   * @default the handlers bundled from lambdas/ by esbuild at synth time (bundledHandlers)
   */
  readonly code?: lambda.Code;
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
    const code = props.code ?? bundledHandlers();
    for (const file of handlerFiles) {
      fns[file] = new lambda.Function(this, file.replace(/(^|-)(\w)/g, (_m, _d, c: string) => c.toUpperCase()), {
        runtime: lambda.Runtime.NODEJS_22_X,
        code,
        handler: `lambdas/${file}.handler`,
        timeout: Duration.seconds(timeoutSeconds[file] ?? 30),
        memorySize: 256,
        environment: props.environment,
      });
      // cdk-nag decisions, per function (a security reviewer's questions, answered):
      Validations.of(fns[file]).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason: 'AWSLambdaBasicExecutionRole grants only the CloudWatch Logs writes of this function\'s own log group; a hand-written copy would say the same.',
      });
      Validations.of(fns[file]).acknowledge({
        id: 'AwsSolutions-L1',
        reason: 'DESIGN.md fixes the runtime at nodejs22.x (the code is kept valid on Node 20 and 22, which the tests run); moving to a newer runtime is a tested change of its own.',
      });
    }
    this.byFile = fns;
  }
}
