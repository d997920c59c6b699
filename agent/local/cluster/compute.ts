import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { InstanceJob, InstanceState, LaunchedInstance, LaunchRequest, Reservation, Compute } from '../../ports/compute.js';
import { freePort } from '../../server/free-port.js';
import { pidAlive } from '../../server/process-util.js';
import { CLI } from '../agent-process.js';

/**
 * Compute for the local cluster: an instance is a process group, `squirrel instance-job` and the
 * mariadbd and agent it starts, in its own directory `DIR/instances/<id>/`. A reservation is a
 * free port and the instance id the launch will use (a process group can be named before it
 * exists, unlike an EC2 instance). When an instance's process group leader ends, the instance
 * is `terminated` (or `stopped`, when stop() asked for it) and `onStateChange` gets the same
 * event shape EventBridge delivers for EC2, so detection runs the same handler.
 *
 * Every reservation and instance is recorded in `DIR/compute.json`, so `local cluster kill` and
 * `down` find the process groups from another process, and this one survives a restart.
 */

/** EventBridge's EC2 state-change event, as lambdas/ec2-state-change.ts reads it. */
export interface Ec2StateChangeEvent {
  source: 'aws.ec2';
  'detail-type': 'EC2 Instance State-change Notification';
  time: string;
  detail: { 'instance-id': string; state: string };
}

export interface LocalInstance {
  instanceId: string;
  /** The instance's directory (its job's `status.json`, `instance.log`, server data). */
  dir: string;
  /** The job's pid, which is also the process group id. */
  pid: number;
  state: InstanceState;
  host: string;
  port: number;
  epoch: number;
  job: InstanceJob;
  launchedAt: string;
  endedAt?: string;
}

interface ComputeFile {
  next: number;
  reservations: Record<string, Reservation>;
  launches: Record<string, string>;
  instances: Record<string, LocalInstance>;
}

export interface LocalComputeOptions {
  /** The cluster's directory; instances go under `instances/`. */
  dir: string;
  /** The SQUIRREL_* (and AWS_*) variables every instance's job runs with: the stand-ins, the cluster. */
  env: Record<string, string>;
  /** root's password on every instance's server. */
  rootPassword: string;
  onStateChange?: (event: Ec2StateChangeEvent) => void;
}

export const computeFile = (dir: string) => join(dir, 'compute.json');

/** The instances `DIR/compute.json` records (for another process: the CLI's kill and down). */
export function readInstances(dir: string): LocalInstance[] {
  if (!existsSync(computeFile(dir))) return [];
  return Object.values((JSON.parse(readFileSync(computeFile(dir), 'utf8')) as ComputeFile).instances);
}

export class LocalCompute implements Compute {
  private readonly file: ComputeFile;

  constructor(private readonly opts: LocalComputeOptions) {
    this.file = existsSync(computeFile(opts.dir)) ? (JSON.parse(readFileSync(computeFile(opts.dir), 'utf8')) as ComputeFile) : { next: 1, reservations: {}, launches: {}, instances: {} };
    // instances of an earlier run of this process: whatever still runs is not ours to watch
    for (const i of Object.values(this.file.instances)) if (i.state === 'running' && !pidAlive(i.pid)) this.end(i, 'terminated');
  }

  async reserve(req: { clusterId: string; epoch: number; token: string }): Promise<Reservation> {
    let r = this.file.reservations[req.token];
    if (!r) {
      const instanceId = `i-local-${String(this.file.next++).padStart(4, '0')}`;
      r = { id: instanceId, identity: { instanceId, host: '127.0.0.1', port: await freePort() } };
      this.file.reservations[req.token] = r;
      this.save();
    }
    return r;
  }

  async launch(req: LaunchRequest): Promise<LaunchedInstance> {
    const have = this.file.launches[req.token];
    if (have) return { instanceId: have, identity: req.reservation.identity };
    const instanceId = req.reservation.identity.instanceId ?? req.reservation.id;
    const dir = join(this.opts.dir, 'instances', instanceId);
    mkdirSync(dir, { recursive: true });
    const { host, port } = req.reservation.identity;
    const spec = { clusterId: req.clusterId, epoch: req.epoch, primary: req.reservation.identity, job: req.job };
    writeFileSync(join(dir, 'job.json'), `${JSON.stringify(spec, null, 2)}\n`);
    const logFd = openSync(join(dir, 'instance.log'), 'a');
    const env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/root',
      NODE_NO_WARNINGS: '1',
      ...this.opts.env,
      SQUIRREL_MYSQL_URL: `mysql://root:${encodeURIComponent(this.opts.rootPassword)}@${host}:${port}`,
      ...(req.reservation.identity.instanceId ? { SQUIRREL_INSTANCE_ID: req.reservation.identity.instanceId } : {}),
    };
    // its own process group (detached): killing the group is losing the machine
    const child = spawn(process.execPath, [CLI, 'instance-job', '--dir', dir, '--job', join(dir, 'job.json')], { detached: true, stdio: ['ignore', logFd, logFd], env });
    closeSync(logFd);
    if (child.pid === undefined) throw new Error(`launch ${instanceId}: the instance job did not start`);
    const instance: LocalInstance = { instanceId, dir, pid: child.pid, state: 'running', host, port, epoch: req.epoch, job: req.job, launchedAt: new Date().toISOString() };
    this.file.instances[instanceId] = instance;
    this.file.launches[req.token] = instanceId;
    this.save();
    child.once('exit', () => this.end(instance, instance.state === 'stopping' ? 'stopped' : 'terminated'));
    child.unref();
    return { instanceId, identity: req.reservation.identity };
  }

  async stop(instanceId: string, opts: { force: boolean }): Promise<void> {
    const i = this.file.instances[instanceId];
    if (!i || i.state !== 'running') return;
    i.state = 'stopping';
    this.save();
    killGroup(i.pid, opts.force ? 'SIGKILL' : 'SIGTERM');
  }

  async describe(instanceId: string): Promise<InstanceState> {
    const i = this.file.instances[instanceId];
    if (!i) return 'missing';
    if ((i.state === 'running' || i.state === 'stopping') && !pidAlive(i.pid)) this.end(i, i.state === 'stopping' ? 'stopped' : 'terminated');
    return i.state;
  }

  get instances(): LocalInstance[] {
    return Object.values(this.file.instances);
  }

  private end(i: LocalInstance, state: 'stopped' | 'terminated'): void {
    if (i.state === 'stopped' || i.state === 'terminated') return;
    // whatever of the group is left (the job's children) goes with it, as with a machine
    killGroup(i.pid, 'SIGKILL');
    i.state = state;
    i.endedAt = new Date().toISOString();
    this.save();
    this.opts.onStateChange?.({
      source: 'aws.ec2',
      'detail-type': 'EC2 Instance State-change Notification',
      time: i.endedAt,
      detail: { 'instance-id': i.instanceId, state },
    });
  }

  private save(): void {
    const tmp = `${computeFile(this.opts.dir)}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(this.file, null, 2)}\n`);
    renameSync(tmp, computeFile(this.opts.dir));
  }
}

/** Signals a whole process group; a group already gone is not an error. */
export function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}
