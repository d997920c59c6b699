import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../../config.js';
import type { ExecutionOutcome } from '../../control/local-workflows.js';
import { ProcessError } from '../../errors.js';
import type { InstanceStatus } from '../../instance/job.js';
import type { RestoreTarget } from '../../ports/compute.js';
import { pidAlive } from '../../server/process-util.js';
import { parseEnvFile } from '../stack.js';
import { killGroup, readInstances, type LocalInstance } from './compute.js';
import { readClusterFile, writeClusterFile } from './files.js';

/**
 * `squirrel local cluster up|kill|restore|down`: the commands that start the local cluster's
 * control process (daemon.ts), talk to it over its HTTP API, and stop it. Each returns; the
 * cluster keeps running between them.
 */

export const CLUSTER_DEFAULTS = { clusterId: 'demo', endpointPort: 3406, leaseMs: 10_000 } as const;

export interface ClusterUpOptions {
  clusterId?: string;
  /** The endpoint's fixed port. @default 3406 */
  endpointPort?: number;
  /** The agents' lease. @default 10 s */
  leaseMs?: number;
  /** Lossless mode of every instance (agent `lossless`, server semi-sync master). @default 'off' */
  lossless?: Config['lossless'];
  /** How long `up` waits for the first primary (server, agent, first base backup). @default 180 s */
  timeoutMs?: number;
}

export interface ClusterUp {
  env: Record<string, string>;
  envFile: string;
  /** mysql:// URL of the application's account through the endpoint. */
  endpointUrl: string;
  alreadyRunning: boolean;
}

const daemonScript = fileURLToPath(new URL('./daemon.js', import.meta.url));

function controlAlive(dir: string): boolean {
  const pid = readClusterFile(dir)?.controlPid;
  if (pid === undefined || !pidAlive(pid)) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir);
  } catch {
    return true;
  }
}

function upResult(dir: string, alreadyRunning: boolean): ClusterUp {
  const envFile = join(dir, 'env');
  const env = parseEnvFile(readFileSync(envFile, 'utf8'));
  return { env, envFile, endpointUrl: env.SQUIRREL_ENDPOINT_URL!, alreadyRunning };
}

export async function clusterUp(dirIn: string, opts: ClusterUpOptions = {}): Promise<ClusterUp> {
  const dir = resolve(dirIn);
  mkdirSync(dir, { recursive: true });
  const running = readClusterFile(dir);
  if (controlAlive(dir) && running?.ready) {
    if (opts.lossless !== undefined && opts.lossless !== (running.lossless ?? 'off')) {
      throw new ProcessError('local cluster', `${dir} already runs a cluster with lossless ${running.lossless ?? 'off'}, not ${opts.lossless}: stop it with \`squirrel local cluster down --dir ${dir}\` and start a new one in a new directory`);
    }
    return upResult(dir, true);
  }
  if (existsSync(join(dir, 'compute.json'))) {
    throw new ProcessError('local cluster', `${dir} holds an earlier cluster (compute.json): stop it with \`squirrel local cluster down --dir ${dir}\` and use a new directory`);
  }
  writeClusterFile(dir, {
    clusterId: opts.clusterId ?? CLUSTER_DEFAULTS.clusterId,
    endpointPort: opts.endpointPort ?? CLUSTER_DEFAULTS.endpointPort,
    rootPassword: 'squirrel-root',
    app: { user: 'app', password: 'app-password' },
    leaseMs: opts.leaseMs ?? CLUSTER_DEFAULTS.leaseMs,
    lossless: opts.lossless ?? 'off',
  });
  const logFd = openSync(join(dir, 'control.log'), 'a');
  const child = spawn(process.execPath, [daemonScript, dir], { detached: true, stdio: ['ignore', logFd, logFd], env: { ...process.env, NODE_NO_WARNINGS: '1' } });
  closeSync(logFd);
  child.unref();
  const deadline = Date.now() + (opts.timeoutMs ?? 180_000);
  for (;;) {
    const f = readClusterFile(dir);
    if (f?.ready) return upResult(dir, false);
    if (f?.failed) throw new ProcessError('local cluster', `up failed: ${f.failed} (see ${dir}/control.log)`);
    if (child.exitCode !== null || (f?.controlPid !== undefined && !pidAlive(f.controlPid))) throw new ProcessError('local cluster', `the control process ended before the cluster was up (see ${dir}/control.log)`);
    if (Date.now() > deadline) {
      await clusterDown(dir);
      throw new ProcessError('local cluster', `not up after ${opts.timeoutMs ?? 180_000} ms (see ${dir}/control.log)`);
    }
    await sleep(200);
  }
}

async function api<T>(dir: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const f = readClusterFile(resolve(dir));
  if (!f?.apiPort || !controlAlive(resolve(dir))) throw new ProcessError('local cluster', `no cluster is running for ${dir} (squirrel local cluster up --dir ${dir})`);
  const res = await fetch(`http://127.0.0.1:${f.apiPort}${path}`, { method, ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}) });
  const parsed = (await res.json()) as T & { error?: string };
  if (!res.ok) throw new ProcessError('local cluster', parsed.error ?? `HTTP ${res.status}`);
  return parsed;
}

export interface ClusterStatus {
  clusterId: string;
  endpoint?: { host: string; port: number };
  instances: (LocalInstance & { status?: InstanceStatus })[];
  executions: { name: string; workflow: string; input: Record<string, unknown>; startedAt: string; endedAt?: string; outcome?: ExecutionOutcome }[];
}

export const clusterStatus = (dir: string) => api<ClusterStatus>(dir, 'GET', '/status');

/** The instance the endpoint points at: the primary clients write to. */
export async function primaryInstance(dir: string): Promise<ClusterStatus['instances'][number] | undefined> {
  const s = await clusterStatus(dir);
  return s.instances.find((i) => i.state === 'running' && s.endpoint && i.host === s.endpoint.host && i.port === s.endpoint.port);
}

export type KillWhat = 'instance' | 'server' | 'agent';

/** SIGKILLs the primary's whole process group (EC2 losing the machine), or only its server or agent. */
export async function clusterKill(dir: string, what: KillWhat = 'instance'): Promise<{ instanceId: string; pid: number; what: KillWhat; at: number }> {
  const primary = await primaryInstance(dir);
  if (!primary) throw new ProcessError('local cluster', 'no running instance is the primary (the endpoint points at none)');
  const pid = what === 'instance' ? primary.pid : what === 'server' ? primary.status?.serverPid : primary.status?.agentPid;
  if (pid === undefined) throw new ProcessError('local cluster', `instance ${primary.instanceId} reports no ${what} process`);
  const at = Date.now();
  if (what === 'instance') killGroup(pid, 'SIGKILL');
  else process.kill(pid, 'SIGKILL');
  return { instanceId: primary.instanceId, pid, what, at };
}

/** Starts the restore workflow as the console would; resolves with the execution's name. */
export async function clusterRestore(dir: string, target: RestoreTarget, mode: 'replace-primary' | 'new-instance'): Promise<string> {
  return (await api<{ executionName: string }>(dir, 'POST', '/restore', { target, mode })).executionName;
}

/** Waits until execution `name` ends; its outcome. */
export async function waitForExecution(dir: string, name: string, timeoutMs = 300_000): Promise<ExecutionOutcome> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const e = (await clusterStatus(dir)).executions.find((x) => x.name === name);
    if (e?.outcome) return e.outcome;
    if (Date.now() > deadline) throw new ProcessError('local cluster', `execution ${name} has not ended after ${timeoutMs} ms`);
    await sleep(250);
  }
}

/**
 * Stops everything `up` started: asks the control process to stop (instances, endpoint,
 * stand-ins), then kills whatever is left of it, the instances' process groups and the
 * stand-ins. Idempotent. Returns what it stopped.
 */
export async function clusterDown(dirIn: string): Promise<string[]> {
  const dir = resolve(dirIn);
  const f = readClusterFile(dir);
  const stopped: string[] = [];
  if (!f) return stopped;
  if (f.controlPid !== undefined && controlAlive(dir)) {
    if (f.apiPort) await api(dir, 'POST', '/down').catch(() => process.kill(f.controlPid!, 'SIGTERM'));
    else process.kill(f.controlPid, 'SIGTERM');
    for (let waited = 0; pidAlive(f.controlPid) && waited < 60_000; waited += 100) await sleep(100);
    if (pidAlive(f.controlPid)) process.kill(f.controlPid, 'SIGKILL');
    stopped.push(`control process (pid ${f.controlPid})`);
  }
  for (const i of readInstances(dir)) {
    if ((i.state === 'running' || i.state === 'stopping') && pidAlive(i.pid)) {
      killGroup(i.pid, 'SIGKILL');
      stopped.push(`instance ${i.instanceId} (pid ${i.pid})`);
    }
  }
  for (const s of f.standIns ?? []) {
    if (pidAlive(s.pid)) {
      process.kill(s.pid, 'SIGKILL');
      stopped.push(`${s.name} (pid ${s.pid})`);
    }
  }
  writeClusterFile(dir, { ...f, ready: false });
  return stopped;
}
