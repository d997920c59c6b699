/**
 * The CDK app synthesizes offline, and the local runner executes exactly the state machines it
 * synthesizes (DESIGN.md: one definition, built in CDK; the local runner never runs a copy).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { MemoryStateStore } from '../../agent/store/memory-state-store.js';
import { LocalWorkflows, localFunctionArn } from '../../agent/control/local-workflows.js';
import { synthesizeControlPlane, type Template } from '../../infra/synth.js';
import { recordingPorts } from '../lambdas/control-fixture.js';

type Asl = { StartAt: string; States: Record<string, { Type: string; Resource?: string; Next?: string; End?: boolean; Retry?: { ErrorEquals: string[]; MaxAttempts?: number }[]; Catch?: { ErrorEquals: string[]; Next: string; ResultPath?: string }[]; Choices?: { Next: string; Variable?: string; BooleanEquals?: boolean }[]; Default?: string }>; QueryLanguage?: string };

const machines = (t: Template) => Object.entries(t.Resources).filter(([, r]) => r.Type === 'AWS::StepFunctions::StateMachine');

/** The template's definition text, every function ARN written as `arn(logicalId)`: rendered here independently of the runner. */
function definitionText(t: Template, idPart: string, arn: (id: string) => string): string {
  const [, sm] = machines(t).find(([id]) => id.includes(idPart))!;
  const [sep, parts] = (sm.Properties!.DefinitionString as { 'Fn::Join': [string, (string | { 'Fn::GetAtt': [string, string] })[]] })['Fn::Join'];
  return parts.map((p) => (typeof p === 'string' ? p : arn(p['Fn::GetAtt'][0]))).join(sep);
}

describe('control plane infra', () => {
  let template: Template;
  before(() => {
    template = synthesizeControlPlane();
  });

  it('synthesizes the table, one Node 22 function per handler of lambdas/, two state machines and the detection rules', () => {
    const fns = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function');
    assert.deepEqual(fns.map((f) => f.Properties!.Handler).sort(), [
      'lambdas/await-promotion.handler',
      'lambdas/claim-epoch.handler',
      'lambdas/ec2-state-change.handler',
      'lambdas/fence-old.handler',
      'lambdas/heartbeat-check.handler',
      'lambdas/launch-replacement.handler',
      'lambdas/mark-failed.handler',
      'lambdas/move-endpoint.handler',
      'lambdas/notify.handler',
    ]);
    assert.ok(fns.every((f) => f.Properties!.Runtime === 'nodejs22.x'));
    assert.equal(machines(template).length, 2);
    const rules = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Events::Rule').map((r) => r.Properties!);
    assert.ok(rules.some((r) => JSON.stringify(r.EventPattern) === JSON.stringify({ source: ['aws.ec2'], 'detail-type': ['EC2 Instance State-change Notification'], detail: { state: ['stopping', 'stopped', 'shutting-down', 'terminated'] } })));
    assert.ok(rules.some((r) => r.ScheduleExpression === 'rate(1 minute)'));
    assert.equal(Object.values(template.Resources).filter((r) => r.Type === 'AWS::DynamoDB::Table').length, 1);
  });

  it('the local runner executes the synthesized definitions byte for byte (function ARNs aside)', () => {
    const p = recordingPorts(new MemoryStateStore(), {});
    const wf = new LocalWorkflows({ template, ports: p.ports });
    for (const [workflow, idPart] of [['failover', 'FailoverWorkflow'], ['restore', 'RestoreWorkflow']] as const) {
      assert.equal(wf.definitions[workflow], definitionText(template, idPart, localFunctionArn));
      // and nothing else was changed: with CloudFormation's tokens put back, it is the template's text
      const tokens = definitionText(template, idPart, (id) => `\u0000${id}\u0000`);
      assert.equal(wf.definitions[workflow].replace(/arn:aws:lambda:us-east-1:123456789012:function:([A-Za-z0-9]+)/g, '\u0000$1\u0000'), tokens);
    }
  });

  it('the restore workflow refuses an unknown mode before any step', async () => {
    const p = recordingPorts(new MemoryStateStore(), {});
    const wf = new LocalWorkflows({ template, ports: p.ports });
    await wf.start('restore', 'r-bad', { clusterId: 'shop', target: 'latest', mode: 'replace-everything' });
    assert.deepEqual(await wf.outcome('r-bad'), { status: 'FAILED', error: 'UnknownMode', cause: 'mode must be "replace-primary" or "new-instance"' });
    assert.deepEqual(p.calls, []);
  });

  it('writes JSONPath (no JSONata), and every step of the failover catches into MarkFailed; the endpoint moves only when promoted', () => {
    const asl = JSON.parse(definitionText(template, 'FailoverWorkflow', localFunctionArn)) as Asl;
    assert.notEqual(asl.QueryLanguage, 'JSONata');
    assert.equal(asl.StartAt, 'ClaimNextEpoch');
    const tasks = Object.entries(asl.States).filter(([, s]) => s.Type === 'Task');
    for (const [name, s] of tasks) {
      if (name === 'MarkFailed' || name === 'NotifyFailure') continue;
      assert.deepEqual(s.Catch, [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'MarkFailed' }], name);
    }
    assert.deepEqual(
      asl.States.ClaimNextEpoch!.Retry!.find((r) => r.ErrorEquals.includes('LeaseLiveError')),
      { ErrorEquals: ['LeaseLiveError'], IntervalSeconds: 5, MaxAttempts: 12, BackoffRate: 1 },
    );
    const path = ['ClaimNextEpoch', 'FenceOldPrimary', 'LaunchReplacement', 'AwaitPromotion'];
    for (let i = 0; i + 1 < path.length; i++) assert.equal(asl.States[path[i]!]!.Next, path[i + 1]);
    assert.equal(asl.States.AwaitPromotion!.Next, 'Promoted?');
    const into = Object.entries(asl.States).filter(([, s]) => s.Next === 'MoveEndpoint' || s.Choices?.some((c) => c.Next === 'MoveEndpoint') || s.Default === 'MoveEndpoint').map(([n]) => n);
    assert.deepEqual(into, ['Promoted?'], 'only the promotion check leads to MoveEndpoint');
    assert.deepEqual(asl.States['Promoted?']!.Choices, [{ Variable: '$.promotion.promoted', BooleanEquals: true, Next: 'MoveEndpoint' }]);
    assert.equal(asl.States.MoveEndpoint!.Next, 'Notify');
  });

  it('`cdk synth` of the compiled app works offline and holds the same state machines', async () => {
    const out = mkdtempSync(join(tmpdir(), 'squirrel-cdk-'));
    try {
      const app = new URL('../../infra/app.js', import.meta.url).pathname;
      await promisify(execFile)(process.execPath, [app], { env: { ...process.env, CDK_OUTDIR: out }, timeout: 120_000 });
      const synthesized = JSON.parse(readFileSync(join(out, 'Squirrel.template.json'), 'utf8')) as Template;
      for (const idPart of ['FailoverWorkflow', 'RestoreWorkflow']) {
        assert.equal(definitionText(synthesized, idPart, (id) => id), definitionText(template, idPart, (id) => id), idPart);
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
