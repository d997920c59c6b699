import { Stack, Validations, type CfnElement } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';

/**
 * cdk-nag decisions on a workflow's role, finding by finding: the wildcards the CDK's own grants
 * write, each with the reason a security reviewer would ask for.
 */
export function acknowledgeWorkflowGrants(stateMachine: sfn.StateMachine, functions: lambda.IFunction[]): void {
  const policy = stateMachine.role.node.tryFindChild('DefaultPolicy') ?? stateMachine.role;
  const stack = Stack.of(stateMachine);
  for (const fn of functions) {
    const cfn = fn.node.defaultChild as CfnElement | undefined;
    if (!cfn) continue;
    Validations.of(policy).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${stack.getLogicalId(cfn)}.Arn>:*]`,
      reason: "LambdaInvoke's grant: lambda:InvokeFunction on this handler's versions and aliases only (`<function arn>:*`).",
    });
  }
  Validations.of(policy).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason: 'The execution log delivery (logs:CreateLogDelivery and friends) and X-Ray actions support no resource-level permission.',
  });
}
