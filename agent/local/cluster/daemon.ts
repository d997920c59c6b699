/**
 * The local cluster's control process (`squirrel local cluster up` starts it detached): the
 * stand-ins, the endpoint, the first primary instance, and the control plane, which is detection
 * (instance deaths from Compute, the scheduled heartbeat check) and the failover and restore
 * workflows run from the synthesized state machine definitions. Everything it acts through is a
 * port: Compute is process groups, the Endpoint a TCP forwarder, the Notifier a file.
 *
 * Usage: node daemon.js DIR (DIR/cluster.json written by `up` first). Stops on POST /down or SIGTERM.
 */
import { appendFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import mysql from 'mysql2/promise';
import { synthesizeControlPlane } from '../../../infra/synth.js';
import type { DetectionResult } from '../../../lambdas/ec2-state-change.js';
import { taskHandlers } from '../../../lambdas/local.js';
import { defaultControlSettings, type ControlPlane } from '../../control/control-plane.js';
import { LocalWorkflows, type ExecutionOutcome } from '../../control/local-workflows.js';
import { restoreTarget } from '../../control/workflow-state.js';
import { describeError } from '../../errors.js';
import type { Notification } from '../../ports/notifier.js';
import { openStateStore } from '../../wiring.js';
import { startLocalStack, writeEnvFile } from '../stack.js';
import { LocalCompute, type Ec2StateChangeEvent } from './compute.js';
import { ForwarderEndpoint } from './endpoint.js';
import { readClusterFile, timelinePath, writeClusterFile, type ClusterFile } from './files.js';
import { instanceStatus } from './instances.js';
import { FileNotifier } from './notifier.js';

const dir = resolve(process.argv[2] ?? '');
const log = (line: string) => process.stdout.write(`${new Date().toISOString()} ${line}\n`);
const event = (kind: string, detail: string) => {
  appendFileSync(timelinePath(dir), `${JSON.stringify({ at: new Date().toISOString(), kind, detail })}\n`);
  log(`${kind}: ${detail}`);
};

/** How often the scheduled heartbeat check runs here (EventBridge: every minute in AWS). */
const HEARTBEAT_CHECK_MS = 2000;

interface Execution {
  name: string;
  workflow: 'failover' | 'restore';
  input: Record<string, unknown>;
  startedAt: string;
  endedAt?: string;
  outcome?: ExecutionOutcome;
}

async function main(): Promise<void> {
  const file = readClusterFile(dir);
  if (!file) throw new Error(`${dir}/cluster.json is missing: start the cluster with squirrel local cluster up --dir ${dir}`);
  const update = (patch: Partial<ClusterFile>) => writeClusterFile(dir, { ...readClusterFile(dir)!, ...patch });
  update({ controlPid: process.pid });
  const stopping = new AbortController();
  const cleanups: (() => Promise<unknown>)[] = [];
  const shutdown = async () => {
    if (stopping.signal.aborted) return;
    stopping.abort();
    event('down', 'stopping the instances, the endpoint, the control plane and the stand-ins');
    for (const c of cleanups.reverse()) await c().catch((err: unknown) => log(`stop: ${describeError(err)}`));
    log('stopped');
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown());
  process.once('SIGINT', () => void shutdown());

  try {
    const stack = await startLocalStack({ dir: join(dir, 'stack'), clusterId: file.clusterId });
    cleanups.push(() => stack.stop());
    update({ standIns: [{ name: 's3', pid: stack.s3.pid }, { name: 'dynamodb', pid: stack.dynamodb.pid }] });
    // this process's own clients (the control plane's state store) use the stand-ins' credentials
    Object.assign(process.env, stack.env);
    event('stand-ins', `S3 ${stack.s3.endpoint}, DynamoDB ${stack.dynamodb.endpoint}`);

    const endpoint = await ForwarderEndpoint.start(file.endpointPort);
    cleanups.push(() => endpoint.stop());
    const appUrl = `mysql://${file.app.user}:${file.app.password}@127.0.0.1:${endpoint.port}`;
    const lossless = file.lossless ?? 'off';
    // every instance's job and agent: the job turns semi-sync master on at its server, the agent replies as a semi-sync replica
    const instanceEnv = { ...stack.env, SQUIRREL_LEASE_MS: String(file.leaseMs), SQUIRREL_LOSSLESS: lossless, SQUIRREL_LOG_LEVEL: 'info' };
    writeEnvFile(dir, { ...stack.env, SQUIRREL_ENDPOINT_URL: appUrl });

    // detection is wired below, once the workflows exist; instance deaths before that are only logged
    const on: { stateChange?: (e: Ec2StateChangeEvent) => void } = {};
    const compute = new LocalCompute({ dir, env: instanceEnv, rootPassword: file.rootPassword, onStateChange: (e) => (on.stateChange ? on.stateChange(e) : event('instance', `${e.detail['instance-id']} is ${e.detail.state}`)) });
    cleanups.push(async () => {
      for (const i of compute.instances) await compute.stop(i.instanceId, { force: false });
      for (let waited = 0; compute.instances.some((i) => i.state === 'stopping') && waited < 30_000; waited += 100) await sleep(100);
      for (const i of compute.instances) if (i.state === 'stopping') await compute.stop(i.instanceId, { force: true });
    });
    const notifier = new FileNotifier(join(dir, 'notifications.log'), (n: Notification) => event('notify', n.subject));
    const stateStore = openStateStore({ table: stack.table, region: stack.region, dynamodbEndpoint: stack.dynamodb.endpoint });
    const ports: Omit<ControlPlane, 'starter'> = {
      stateStore,
      compute: traced(compute, 'compute', ['reserve', 'launch', 'stop']),
      endpoint: traced(endpoint, 'endpoint', ['point']),
      notifier,
      now: Date.now,
      sleep: (ms) => sleep(ms),
      settings: { ...defaultControlSettings, staleAfterMs: 5000, fenceWaitMs: 15_000, fencePollMs: 200, maxPromotionPolls: 1200 },
    };
    const workflows = new LocalWorkflows({ template: synthesizeControlPlane({ clusterId: file.clusterId }), ports, waitMs: 250, retryIntervalMs: 1000 });
    const cp = workflows.controlPlane;
    const executions: Execution[] = [];
    const track = (workflow: Execution['workflow'], name: string, input: Record<string, unknown>) => {
      if (executions.some((e) => e.name === name)) return;
      const e: Execution = { name, workflow, input, startedAt: new Date().toISOString() };
      executions.push(e);
      event('workflow', `${workflow} ${name} started: ${JSON.stringify(input)}`);
      void workflows.outcome(name).then((outcome) => {
        e.outcome = outcome;
        e.endedAt = new Date().toISOString();
        event('workflow', `${name} ${outcome.status}${outcome.status === 'FAILED' ? `: ${outcome.error}: ${outcome.cause}` : ''}`);
      });
    };
    // detection's workflow starts are this runner's: record each one it starts
    const starter = cp.starter;
    cp.starter = {
      start: async (workflow, name, input) => {
        const r = await starter.start(workflow, name, input);
        if (r.status === 'started') track(workflow, name, input);
        return r;
      },
    };
    const onStateChange = taskHandlers['ec2-state-change'](cp, file.clusterId);
    const heartbeatCheck = taskHandlers['heartbeat-check'](cp, file.clusterId);
    on.stateChange = (e) => {
      event('instance', `${e.detail['instance-id']} is ${e.detail.state}`);
      if (stopping.signal.aborted) return;
      void onStateChange(e).then(
        (r) => event('detect', `state change of ${e.detail['instance-id']}: ${JSON.stringify(r)}`),
        (err: unknown) => event('detect', `state change handler failed: ${describeError(err)}`),
      );
    };

    // the first primary: a fresh server whose agent claims epoch 1
    const reservation = await ports.compute.reserve({ clusterId: file.clusterId, epoch: 1, token: 'first-primary' });
    const first = await ports.compute.launch({ clusterId: file.clusterId, epoch: 1, reservation, job: { kind: 'new-primary' }, token: 'first-primary' });
    const firstDir = join(dir, 'instances', first.instanceId);
    for (;;) {
      const s = instanceStatus(firstDir);
      if (s?.backupId) break;
      if (s?.phase === 'failed' || (await compute.describe(first.instanceId)) !== 'running') throw new Error(`the first primary ${first.instanceId} failed: ${s?.detail ?? 'it ended'} (see ${firstDir}/instance.log)`);
      await sleep(200);
    }
    const root = await mysql.createConnection({ host: '127.0.0.1', port: reservation.identity.port, user: 'root', password: file.rootPassword });
    try {
      // the application's account: no READ_ONLY ADMIN, so a fenced (read-only) server refuses its writes
      await root.query(`CREATE USER IF NOT EXISTS ?@'%' IDENTIFIED BY ?`, [file.app.user, file.app.password]);
      await root.query(`GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX, LOCK TABLES, CREATE TEMPORARY TABLES ON *.* TO ?@'%'`, [file.app.user]);
    } finally {
      await root.end();
    }
    await ports.endpoint.point(file.clusterId, reservation.identity);

    const api = createServer((req, res) => void route(req, res));
    const route = async (req: IncomingMessage, res: ServerResponse) => {
      const reply = (code: number, body: unknown) => {
        res.writeHead(code, { 'content-type': 'application/json' });
        res.end(`${JSON.stringify(body)}\n`);
      };
      try {
        if (req.method === 'GET' && req.url === '/status') {
          return reply(200, { clusterId: file.clusterId, endpoint: await endpoint.current(), instances: compute.instances.map((i) => ({ ...i, status: instanceStatus(i.dir) })), executions });
        }
        if (req.method === 'POST' && req.url === '/restore') {
          const body = JSON.parse(await readBody(req)) as { target?: unknown; mode?: unknown };
          const target = restoreTarget.safeParse(body.target ?? 'latest');
          if (!target.success || (body.mode !== 'replace-primary' && body.mode !== 'new-instance')) {
            return reply(400, { error: 'expected {"target": "latest" | {"time": ISO-8601} | {"gtid": "<position>"}, "mode": "replace-primary" | "new-instance"}' });
          }
          const name = `restore-${file.clusterId}-${Date.now()}`;
          const input = { clusterId: file.clusterId, target: target.data, mode: body.mode };
          await cp.starter.start('restore', name, input);
          return reply(200, { executionName: name });
        }
        if (req.method === 'POST' && req.url === '/down') {
          reply(200, { stopping: true });
          return void shutdown();
        }
        reply(404, { error: `no route ${req.method} ${req.url}` });
      } catch (err) {
        reply(500, { error: describeError(err) });
      }
    };
    await new Promise<void>((ok) => api.listen(0, '127.0.0.1', ok));
    cleanups.push(() => new Promise((ok) => api.close(ok)));
    const apiPort = (api.address() as { port: number }).port;

    // the scheduled check (EventBridge's rate(1 minute) in AWS)
    const checker = setInterval(() => {
      if (stopping.signal.aborted) return;
      void heartbeatCheck({}).then(
        (r) => {
          if ((r as DetectionResult).action !== 'ignore') event('detect', `heartbeat check: ${JSON.stringify(r)}`);
        },
        (err: unknown) => log(`heartbeat check failed: ${describeError(err)}`),
      );
    }, HEARTBEAT_CHECK_MS);
    cleanups.push(async () => clearInterval(checker));

    update({ apiPort, ready: true });
    event('up', `primary ${first.instanceId} on 127.0.0.1:${reservation.identity.port} streams epoch 1; endpoint 127.0.0.1:${endpoint.port}; lossless ${lossless}`);
  } catch (err) {
    update({ failed: describeError(err) });
    log(`up failed: ${describeError(err)}`);
    await shutdown();
  }
}

/** A port whose calls of `ops` go on the timeline (what the control plane did, and when). */
function traced<T extends object>(port: T, name: string, ops: (keyof T & string)[]): T {
  return new Proxy(port, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function' || !ops.includes(prop as keyof T & string)) return typeof value === 'function' ? value.bind(target) : value;
      return async (...args: unknown[]) => {
        event(name, `${String(prop)} ${JSON.stringify(args)}`);
        return (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
      };
    },
  });
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((ok, fail) => {
    const parts: Buffer[] = [];
    req.on('data', (b: Buffer) => parts.push(b));
    req.on('end', () => ok(Buffer.concat(parts).toString('utf8') || '{}'));
    req.on('error', fail);
  });
}

await main();
