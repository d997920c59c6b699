import './promise-polyfill.js';
import { ExecutionError, StateMachine, type RunOptions } from 'aws-local-stepfunctions';
import type { Template } from '../../infra/synth.js';
import { handlerFiles, type HandlerFile } from '../../infra/control-functions.js';
import { taskHandlers } from '../../lambdas/local.js';
import type { StartedExecution, WorkflowName, WorkflowStarter } from '../ports/workflow-starter.js';
import type { ControlPlane } from './control-plane.js';

/**
 * The control plane's workflows run on this machine: the state machines of the synthesized
 * template (infra/synth.ts), executed by aws-local-stepfunctions, each Lambda task calling its
 * handler from lambdas/ in process. The definition run is the template's own text; only each
 * `Fn::GetAtt` of a function's ARN is replaced by an ARN naming that function's logical id, the
 * way CloudFormation replaces it by the deployed one. Nothing in a workflow knows it runs here.
 */

/** How an execution ended. */
export type ExecutionOutcome = { status: 'SUCCEEDED'; output: unknown } | { status: 'FAILED'; error: string; cause: string };

/** The ARN a template's function stands for here. */
export const localFunctionArn = (logicalId: string) => `arn:aws:lambda:us-east-1:123456789012:function:${logicalId}`;

/** Which of the template's state machines is which: the construct ids of infra/squirrel-cluster.ts. */
const machineIds: Record<WorkflowName, string> = { failover: 'FailoverWorkflow', restore: 'RestoreWorkflow' };

/** A state machine's definition as deployed: its `DefinitionString`, with each function ARN rendered by `arn`. */
export function renderDefinition(template: Template, workflow: WorkflowName, arn: (logicalId: string) => string = localFunctionArn): string {
  const [id, sm] = Object.entries(template.Resources).find(([id, r]) => r.Type === 'AWS::StepFunctions::StateMachine' && id.includes(machineIds[workflow])) ?? [];
  if (!id || !sm) throw new Error(`the template has no ${workflow} state machine (a resource id containing ${machineIds[workflow]})`);
  const def = sm.Properties?.DefinitionString as string | { 'Fn::Join': [string, unknown[]] };
  if (typeof def === 'string') return def;
  const [sep, parts] = def['Fn::Join'];
  return parts
    .map((p) => {
      if (typeof p === 'string') return p;
      const getAtt = (p as { 'Fn::GetAtt'?: [string, string] })['Fn::GetAtt'];
      if (getAtt && getAtt[1] === 'Arn' && template.Resources[getAtt[0]]?.Type === 'AWS::Lambda::Function') return arn(getAtt[0]);
      throw new Error(`${workflow} definition: cannot render ${JSON.stringify(p)} locally (only Lambda function ARNs)`);
    })
    .join(sep);
}

type LocalHandlers = NonNullable<NonNullable<RunOptions['overrides']>['taskResourceLocalHandlers']>;

interface AslState {
  Type: string;
  Resource?: string;
}

export interface LocalWorkflowsOptions {
  template: Template;
  /** The ports the handlers act through; the workflow starter is this runner. */
  ports: Omit<ControlPlane, 'starter'>;
  /** Milliseconds of every Wait state (the promotion poll), instead of its seconds. @default as defined */
  waitMs?: number;
  /** Milliseconds between retries of every state, instead of the defined intervals. @default as defined */
  retryIntervalMs?: number;
}

export class LocalWorkflows implements WorkflowStarter {
  /** The definitions run, exactly as rendered from the template. */
  readonly definitions: Record<WorkflowName, string>;
  /** The control plane the handlers get (its starter is this runner: detection starts workflows here). */
  readonly controlPlane: ControlPlane;
  private readonly machines: Record<WorkflowName, StateMachine>;
  private readonly locals: Record<WorkflowName, LocalHandlers>;
  private readonly stateNames: Record<WorkflowName, string[]>;
  private readonly executions = new Map<string, { workflow: WorkflowName; outcome: Promise<ExecutionOutcome> }>();

  constructor(private readonly opts: LocalWorkflowsOptions) {
    this.controlPlane = { ...opts.ports, starter: this };
    const fileOf = (logicalId: string): HandlerFile => {
      const handler = opts.template.Resources[logicalId]?.Properties?.Handler as string | undefined;
      const file = handler?.replace(/^lambdas\//, '').replace(/\.handler$/, '') as HandlerFile | undefined;
      if (!file || !handlerFiles.includes(file)) throw new Error(`function ${logicalId}: handler ${handler ?? '(none)'} is not one of lambdas/`);
      return file;
    };
    const byArn = new Map(Object.entries(opts.template.Resources).flatMap(([id, r]) => (r.Type === 'AWS::Lambda::Function' ? [[localFunctionArn(id), fileOf(id)] as const] : [])));
    const definitions = {} as Record<WorkflowName, string>;
    const machines = {} as Record<WorkflowName, StateMachine>;
    const locals = {} as Record<WorkflowName, LocalHandlers>;
    const stateNames = {} as Record<WorkflowName, string[]>;
    for (const workflow of Object.keys(machineIds) as WorkflowName[]) {
      definitions[workflow] = renderDefinition(opts.template, workflow);
      const parsed = JSON.parse(definitions[workflow]) as { States: Record<string, AslState> };
      machines[workflow] = new StateMachine(JSON.parse(definitions[workflow]));
      locals[workflow] = {};
      stateNames[workflow] = Object.keys(parsed.States);
      for (const [name, state] of Object.entries(parsed.States)) {
        if (state.Type !== 'Task') continue;
        const file = state.Resource && byArn.get(state.Resource);
        if (!file) throw new Error(`${workflow} state ${name}: resource ${state.Resource ?? '(none)'} is no function of the template`);
        locals[workflow][name] = taskHandlers[file](this.controlPlane) as unknown as LocalHandlers[string];
      }
    }
    this.definitions = definitions;
    this.machines = machines;
    this.locals = locals;
    this.stateNames = stateNames;
  }

  async start(workflow: WorkflowName, name: string, input: Record<string, unknown>): Promise<StartedExecution> {
    if (this.executions.has(name)) return { status: 'already-running', executionId: name };
    const all = (ms: number | undefined) => (ms === undefined ? undefined : Object.fromEntries(this.stateNames[workflow].map((s) => [s, ms])));
    const waits = all(this.opts.waitMs);
    const retries = all(this.opts.retryIntervalMs);
    const execution = this.machines[workflow].run(input as never, {
      overrides: {
        taskResourceLocalHandlers: this.locals[workflow],
        ...(waits ? { waitTimeOverrides: waits } : {}),
        ...(retries ? { retryIntervalOverrides: retries } : {}),
      },
      context: { Execution: { Id: name, Name: name, Input: input as never, StartTime: new Date(this.opts.ports.now()).toISOString() } } as never,
    });
    const outcome = execution.result.then(
      (output): ExecutionOutcome => ({ status: 'SUCCEEDED', output }),
      (err: unknown): ExecutionOutcome => {
        const cause = err instanceof ExecutionError ? (err.cause as { name?: string; message?: string } | undefined) : (err as { name?: string; message?: string });
        return { status: 'FAILED', error: cause?.name ?? 'Error', cause: cause?.message ?? String(err) };
      },
    );
    this.executions.set(name, { workflow, outcome });
    return { status: 'started', executionId: name };
  }

  /** The names of every execution started, in order. */
  get executionNames(): string[] {
    return [...this.executions.keys()];
  }

  /** How execution `name` ends. */
  async outcome(name: string): Promise<ExecutionOutcome> {
    const e = this.executions.get(name);
    if (!e) throw new Error(`no local execution named ${name}`);
    return e.outcome;
  }
}
