import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { takeBaseBackup } from '../backup/base-backup.js';
import { backupDepsFor } from '../cli/agent.js';
import { ClusterStateRepo } from '../cluster/repo.js';
import { primaryKey, type PrimaryIdentity } from '../cluster/state.js';
import { parseMysqlUrl, type Config } from '../config.js';
import { restoreTarget } from '../control/workflow-state.js';
import { describeError } from '../errors.js';
import { AgentProcess } from '../local/agent-process.js';
import type { Logger } from '../log.js';
import type { InstanceJob } from '../ports/compute.js';
import { promote } from '../restore/promote.js';
import { restoreCluster } from '../restore/restore-cluster.js';
import { enableSemiSyncMaster } from './semi-sync.js';
import { targetFromWorkflow } from '../restore/target.js';
import { MariaDbServer } from '../server/mariadb.js';
import { openStateStore } from '../wiring.js';

/**
 * What a new instance does once it boots (`squirrel instance-job`): the same job whether EC2 ran
 * it from its user data (agent/aws/user-data.ts) or the local cluster started it as a process
 * group. It brings up the server (fresh, or restored from S3), promotes it under the epoch
 * claimed for it, runs the agent as a supervised child, and takes a base backup once the agent
 * streams, so the next restore starts from the new timeline. In lossless mode (`config.lossless`)
 * it turns semi-sync master on at its server once the server is set up (or promoted) and before
 * the agent starts (semi-sync.ts says why then).
 */

export const instanceJobSpec = z.object({
  clusterId: z.string().min(1),
  /** The epoch the instance was launched for (0 for a restore beside the primary). */
  epoch: z.number().int().min(0),
  /** The server as the claim names it. */
  primary: z.object({ instanceId: z.string().optional(), host: z.string().min(1), port: z.number().int().min(1).max(65535) }),
  job: z.union([
    z.object({ kind: z.literal('new-primary') }),
    z.object({ kind: z.literal('restore-and-promote'), target: restoreTarget }),
    z.object({ kind: z.literal('restore-only'), target: restoreTarget }),
  ]),
});
export type InstanceJobSpec = z.infer<typeof instanceJobSpec> & { job: InstanceJob };

/** Where a job is, as `DIR/status.json` says (the local cluster and tests read it). */
export type InstancePhase = 'starting' | 'restoring' | 'promoting' | 'joining' | 'streaming' | 'restored' | 'fenced' | 'stopped' | 'failed';

export interface InstanceStatus {
  phase: InstancePhase;
  detail: string;
  jobPid: number;
  serverPid?: number;
  agentPid?: number;
  /** Times the supervisor restarted an agent that died (not fenced). */
  agentRestarts: number;
  /** The GTID position the restore reached. */
  restoredTo?: string;
  /** The base backup taken once the agent streamed. */
  backupId?: string;
  at: string;
  /** When each phase began, in order (what a failover's time is broken down by). */
  history: { phase: InstancePhase; at: string }[];
}

export interface InstanceJobOptions {
  spec: InstanceJobSpec;
  /** The cluster's configuration; `mysqlUrl` is root's on this instance (its host and port are the claim's). */
  config: Partial<Config> & Pick<Config, 'clusterId' | 'mysqlUrl' | 'bucket' | 'table' | 'region'>;
  /** The instance's own directory: `server/` (a fresh server), `data/` (a restored one), `agent/`, `status.json`. */
  dir: string;
  /** The SQUIRREL_* variables the agent child gets (the configuration it runs with). */
  agentEnv: Record<string, string>;
  log: Logger;
  /** Aborted when the instance is asked to stop (SIGTERM): the agent is stopped, then the server. */
  stop: AbortSignal;
  /** Supervisor's pause before restarting an agent that died. @default 1000 */
  restartDelayMs?: number;
}

/** Exit codes after which the supervisor does not restart the agent (systemd's RestartPreventExitStatus): it stopped, or it was fenced. */
const finalAgentExits = new Set<number | string>([0, 4, 5]);

/** Runs the job until the instance is stopped; resolves with the last phase. */
export async function runInstanceJob(o: InstanceJobOptions): Promise<InstancePhase> {
  const { spec, config, log } = o;
  mkdirSync(o.dir, { recursive: true });
  const startedAt = new Date().toISOString();
  let status: InstanceStatus = { phase: 'starting', detail: `job ${spec.job.kind} for epoch ${spec.epoch}`, jobPid: process.pid, agentRestarts: 0, at: startedAt, history: [{ phase: 'starting', at: startedAt }] };
  const report = (patch: Partial<InstanceStatus>) => {
    const at = new Date().toISOString();
    const history = patch.phase && patch.phase !== status.phase ? [...status.history, { phase: patch.phase, at }] : status.history;
    status = { ...status, ...patch, at, history };
    const tmp = join(o.dir, 'status.json.tmp');
    writeFileSync(tmp, `${JSON.stringify(status, null, 2)}\n`);
    renameSync(tmp, join(o.dir, 'status.json'));
    log.info({ phase: status.phase }, status.detail);
  };
  const url = parseMysqlUrl(config.mysqlUrl);
  if (url.port !== spec.primary.port) throw new Error(`instance job: the server URL's port ${url.port} is not the claimed primary's ${spec.primary.port}`);
  // the agent names its server as the claim does, or it refuses the epoch (NotPrimaryError)
  if ((config.instanceId ?? spec.primary.instanceId) !== spec.primary.instanceId) {
    throw new Error(`instance job: the configuration names instance ${config.instanceId}, the claim ${spec.primary.instanceId ?? `no instance (${spec.primary.host}:${spec.primary.port})`}: remove instanceId from this instance's configuration`);
  }
  const repo = new ClusterStateRepo(openStateStore(config), config.clusterId);
  let server: MariaDbServer | undefined;
  let agent: AgentProcess | undefined;
  try {
    report({ phase: 'starting', detail: `job ${spec.job.kind} for epoch ${spec.epoch}` });
    if (spec.job.kind === 'new-primary') {
      server = await MariaDbServer.start({ dir: join(o.dir, 'server'), keep: true, port: spec.primary.port, rootPassword: url.password, serverId: 1 });
    } else {
      report({ phase: 'restoring', detail: `restoring to ${JSON.stringify(spec.job.target)}` });
      const restored = await restoreCluster(config, targetFromWorkflow(spec.job.target), join(o.dir, 'data'), { log, start: true, port: spec.primary.port, progress: false });
      server = restored.server!;
      report({ restoredTo: restored.gtidPosition, serverPid: server.pid!, detail: `restored ${restored.transactions} transactions on ${restored.backupId} to ${restored.gtidPosition || '(empty)'} in ${restored.durationMs} ms` });
      if (spec.job.kind === 'restore-only') {
        report({ phase: 'restored', detail: `restored beside the primary; serving read-only on ${spec.primary.host}:${spec.primary.port}` });
        await waitFor(o.stop);
        return 'stopped';
      }
      report({ phase: 'promoting', detail: `promoting under epoch ${spec.epoch}` });
      const steps = await promote(config.mysqlUrl, {
        cluster: { repo, identity: spec.primary },
        ...(spec.job.target === 'latest' ? {} : { targetGtid: restored.gtidPosition }),
        log,
      });
      report({ detail: `promoted: ${steps.map((s) => s.action).join(', ')}` });
    }
    if (config.lossless && config.lossless !== 'off') report({ detail: await enableSemiSyncMaster(config.mysqlUrl, config.lossless) });
    report({ phase: 'joining', serverPid: server.pid!, detail: 'starting the agent' });
    let phase: InstancePhase = 'joining';
    let backupTaken = false;
    const serverGone = serverDeath(server, o.stop);
    for (;;) {
      agent = AgentProcess.start({
        ...o.agentEnv,
        SQUIRREL_MYSQL_URL: config.mysqlUrl,
        SQUIRREL_STATE_DIR: join(o.dir, 'agent'),
        ...(spec.primary.instanceId ? { SQUIRREL_INSTANCE_ID: spec.primary.instanceId } : {}),
      });
      agent.child.stdout?.on('data', (b: Buffer) => process.stdout.write(b));
      agent.child.stderr?.on('data', (b: Buffer) => process.stderr.write(b));
      report({ agentPid: agent.child.pid! });
      const running = agent;
      const exited = running.exited();
      const stopping = new Promise<'stop'>((resolve) => o.stop.addEventListener('abort', () => resolve('stop'), { once: true }));
      if (!backupTaken) {
        const joined = await Promise.race([joinedAs(repo, spec.primary, o.stop), exited.then(() => false)]);
        if (joined) {
          report({ phase: (phase = 'streaming'), detail: `the agent streams epoch ${(await repo.read())?.epoch}; taking a base backup of the new timeline` });
          try {
            const manifest = await takeBaseBackup(backupDepsFor(config, log), { kind: 'physical', progress: false });
            backupTaken = true;
            report({ backupId: manifest.id, detail: `streaming; base backup ${manifest.id} taken` });
          } catch (err) {
            // the chain alone still restores everything: the next backup is the agent's schedule's
            backupTaken = true;
            report({ detail: `streaming; the base backup after promotion failed: ${describeError(err)}` });
          }
        }
      }
      const end = await Promise.race([exited, stopping, serverGone]);
      if (end === 'stop') {
        await running.stop();
        break;
      }
      if (end === 'server died') {
        // the machine is not trusted to bring it back as it was (a crashed primary can hold
        // binlogged transactions nobody saw durable): the instance ends, and its death is what
        // detection sees, as when EC2 loses it
        await running.stop();
        throw new Error(`the server (pid ${status.serverPid}) died; the instance ends so that it is replaced`);
      }
      if (finalAgentExits.has(end)) {
        phase = end === 0 ? 'stopped' : 'fenced';
        report({ phase, detail: `the agent exited ${end}${end === 0 ? '' : ' (fenced): the server stays read-only and must not rejoin as it is'}` });
        await waitFor(o.stop);
        break;
      }
      report({ agentRestarts: status.agentRestarts + 1, detail: `the agent died (${end}); restarting it` });
      await Promise.race([sleep(o.restartDelayMs ?? 1000), waitFor(o.stop)]);
      if (o.stop.aborted) break;
    }
    return phase === 'fenced' ? 'fenced' : 'stopped';
  } catch (err) {
    report({ phase: 'failed', detail: describeError(err) });
    throw err;
  } finally {
    await agent?.stop();
    await server?.stop();
    if (status.phase !== 'failed' && status.phase !== 'fenced') report({ phase: 'stopped', detail: 'the instance was stopped' });
  }
}

/** Whether the cluster's current epoch names `primary`, has begun, and its agent holds the lease. */
async function joinedAs(repo: ClusterStateRepo, primary: PrimaryIdentity, stop: AbortSignal): Promise<boolean> {
  while (!stop.aborted) {
    const s = await repo.read();
    if (s?.primary && primaryKey(s.primary) === primaryKey(primary) && !s.startPending && s.leaseHolder !== '' && s.status === 'HEALTHY') return true;
    await sleep(200);
  }
  return false;
}

/** Resolves 'server died' once the server's process is gone (polled), unless the instance is stopping. */
async function serverDeath(server: MariaDbServer, stop: AbortSignal): Promise<'server died'> {
  while (server.running || stop.aborted) {
    if (stop.aborted) return new Promise(() => undefined); // stopping: the stop's own path ends the job
    await sleep(250);
  }
  return 'server died';
}

/** Resolves when `signal` aborts; holds the process open until then (an instance lives until stopped). */
function waitFor(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  const hold = setInterval(() => undefined, 60_000);
  return new Promise((resolve) =>
    signal.addEventListener('abort', () => {
      clearInterval(hold);
      resolve();
    }, { once: true }),
  );
}
