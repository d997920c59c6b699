import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { backupDepsFor, objectStoreFor } from '../cli/agent.js';
import { ExitCode } from '../cli/command.js';
import { ClusterStateRepo, type DurablePosition } from '../cluster/repo.js';
import { takeBaseBackup } from '../backup/base-backup.js';
import { binlogPrefix, parseChunkKey } from '../keys.js';
import { silentLogger } from '../log.js';
import { restoreCluster } from '../restore/restore-cluster.js';
import { freePort } from '../server/free-port.js';
import { MariaDbServer } from '../server/mariadb.js';
import { openStateStore } from '../wiring.js';
import { AgentProcess } from './agent-process.js';
import { localAgentConfig, waitCaughtUp } from './catch-up.js';
import { checkCrash, type CrashVerdict } from './crash-check.js';
import { startFaultProxy, type FaultCounts, type FaultPlan, type FaultProxy } from './fault-proxy.js';
import { PAIR_TABLES, PairWriter } from './pair-writer.js';
import { between, pick, seededRandom } from './seeded-random.js';
import type { LocalStack } from './stack.js';

/**
 * One crash trial (`npm run crash-trials`): a primary under a numbered write load is killed with
 * SIGKILL at a random moment (its server, its agent, or both), possibly while S3 is slow or
 * failing; the cluster fails over as the control plane does (the next epoch claimed with force,
 * `restore --target latest` into a fresh server); the restore is checked against what the
 * clients were told (crash-check.ts); then the fenced old primary is restarted with its agent,
 * which must refuse to stream and change nothing. Every choice comes from the seed, so a failed
 * trial is replayed with it (the kill's exact moment relative to the load still depends on timing).
 */
export type CrashMode = 'lossless' | 'async';
export type FaultsOption = 'none' | 's3-slow' | 's3-errors' | 'mixed';
export type FaultKind = 'none' | 's3-slow' | 's3-errors' | 's3-slow+errors';
export type KillKind = 'server' | 'agent' | 'both';

export const KILL_KINDS: readonly KillKind[] = ['server', 'agent', 'both'];

export interface CrashTrialOptions {
  seed: number;
  mode: CrashMode;
  faults: FaultsOption;
  /** Force what is killed. @default drawn from the seed */
  kill?: KillKind;
  /** The kill comes this long after the load starts, drawn in [min, max] ms. @default { min: 1000, max: 4000 } */
  loadMs?: { min: number; max: number };
  /** Client connections writing at once. @default 4 */
  connections?: number;
  /** Keep the trial's directory (servers' datadirs, logs). @default false */
  keep?: boolean;
  /** Progress lines. @default none */
  say?: (line: string) => void;
}

/** What a trial chose from its seed. */
export interface TrialPlan {
  seed: number;
  mode: CrashMode;
  faults: FaultKind;
  faultPlan: FaultPlan;
  kill: KillKind;
  killAfterMs: number;
  /** How long the part not killed keeps running before the instance is stopped (SIGKILL too). */
  survivorMs: number;
}

export interface TrialResult extends CrashVerdict {
  plan: TrialPlan;
  clusterId: string;
  attempted: number;
  durableGtid: string;
  restoredGtid: string;
  /** The restarted old primary's agent: its exit code (or what happened instead). */
  fencedExit: number | string;
  s3: FaultCounts;
  durationMs: number;
}

/** The fault mix of a trial: `mixed` picks one per trial. */
function faultPlanFor(kind: FaultKind, random: () => number): FaultPlan {
  const slow = { delayMs: { min: between(random, 0, 30), max: between(random, 100, 600) } };
  const errors = { errorRate: between(random, 5, 20) / 100, resetRate: between(random, 2, 10) / 100 };
  switch (kind) {
    case 'none':
      return {};
    case 's3-slow':
      return slow;
    case 's3-errors':
      return errors;
    case 's3-slow+errors':
      return { ...slow, ...errors };
  }
}

/** The trial's choices, a pure function of its options. */
export function planTrial(opts: Pick<CrashTrialOptions, 'seed' | 'mode' | 'faults' | 'kill' | 'loadMs'>): TrialPlan {
  const random = seededRandom(opts.seed);
  const faults: FaultKind = opts.faults === 'mixed' ? pick(random, ['none', 's3-slow', 's3-errors', 's3-slow+errors'] as const) : opts.faults;
  const faultPlan = faultPlanFor(faults, random);
  const drawnKill = pick(random, KILL_KINDS);
  const load = opts.loadMs ?? { min: 1000, max: 4000 };
  return { seed: opts.seed, mode: opts.mode, faults, faultPlan, kill: opts.kill ?? drawnKill, killAfterMs: between(random, load.min, load.max), survivorMs: between(random, 0, 1000) };
}

/**
 * The primary's semi-sync settings in lossless mode: AFTER_SYNC, and a timeout far longer than a
 * trial, so a commit never falls back to asynchronous (which would acknowledge it unprotected).
 */
const SEMI_SYNC_SETTINGS = ['rpl_semi_sync_master_wait_point=AFTER_SYNC', 'rpl_semi_sync_master_timeout=3600000', 'rpl_semi_sync_master_enabled=ON'];
const semiSyncArgs = (mode: CrashMode) => (mode === 'lossless' ? SEMI_SYNC_SETTINGS.map((s) => `--${s.replace(/_/g, '-').replace('AFTER-SYNC', 'AFTER_SYNC')}`) : []);

/** Keys of the chunks stored under `epoch`. */
async function chunkKeys(objects: ReturnType<typeof objectStoreFor>, clusterId: string, epoch: number): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of objects.list(binlogPrefix('', clusterId, epoch))) keys.push(o.key);
  return keys;
}

const describeDurable = (d: DurablePosition | null | undefined) => (d ? `epoch ${d.epoch} seq ${d.seq} ${d.file}:${d.end} GTID ${d.gtid || '(empty)'}` : '(none)');

/** Runs one trial against `stack` (shared between trials: each has its own cluster id). */
export async function runCrashTrial(stack: LocalStack, opts: CrashTrialOptions): Promise<TrialResult> {
  const started = Date.now();
  const plan = planTrial(opts);
  const say = opts.say ?? (() => undefined);
  const clusterId = `crash-${opts.mode}-${opts.seed}-${started.toString(36)}`;
  const dir = mkdtempSync(join(tmpdir(), 'sq-crash-'));
  const problems: string[] = [];
  let primary: MariaDbServer | undefined;
  let agent: AgentProcess | undefined;
  let proxy: FaultProxy | undefined;
  let writer: PairWriter | undefined;
  let restored: MariaDbServer | undefined;
  try {
    // semi-sync is switched on once the schema exists: before the agent connects, a commit would wait for it
    primary = await MariaDbServer.start({ dir: join(dir, 'primary') });
    await PairWriter.createSchema(primary.url);
    if (plan.mode === 'lossless') for (const setting of SEMI_SYNC_SETTINGS) await primary.query(`SET GLOBAL ${setting}`);
    proxy = await startFaultProxy(stack.s3.endpoint, plan.faultPlan, seededRandom(opts.seed ^ 0x5eed));
    const config = localAgentConfig(stack, primary.url, clusterId);
    mkdirSync(join(dir, 'agent'), { recursive: true });
    const agentEnv = {
      ...stack.env,
      SQUIRREL_S3_ENDPOINT: proxy.endpoint,
      SQUIRREL_CLUSTER_ID: clusterId,
      SQUIRREL_MYSQL_URL: primary.url,
      SQUIRREL_AGENT_ID: 'crash-primary',
      SQUIRREL_STATE_DIR: join(dir, 'agent'),
      SQUIRREL_LOSSLESS: plan.mode === 'lossless' ? 'strict' : 'off',
      SQUIRREL_HEARTBEAT_INTERVAL_MS: '200',
      SQUIRREL_LEASE_MS: '10000',
      SQUIRREL_CHUNK_MAX_AGE_MS: '100',
      SQUIRREL_LOG_LEVEL: 'warn',
    };
    const startAgent = () => AgentProcess.start(agentEnv);
    agent = startAgent();
    const repo = new ClusterStateRepo(openStateStore(config), clusterId);
    const objects = objectStoreFor(config);
    const running = agent;
    const alive = () => {
      if (running.child.exitCode !== null || running.child.signalCode !== null) throw new Error(`the agent exited with ${running.child.exitCode ?? running.child.signalCode} before the load:\n${running.log.slice(-3000)}`);
    };
    say(`seed ${opts.seed}: primary up, agent started`);
    await waitCaughtUp(repo, primary, { timeoutMs: 60_000, check: alive });
    if (plan.mode === 'lossless') {
      const [clients] = await primary.query<{ Value: string }[]>("SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_clients'");
      if (clients?.Value !== '1') throw new Error(`the agent is not the primary's semi-sync replica (Rpl_semi_sync_master_clients=${clients?.Value})`);
    }
    say(`seed ${opts.seed}: caught up; base backup`);
    await takeBaseBackup(backupDepsFor(config, silentLogger), { kind: 'physical', progress: false, durableTimeoutMs: 120_000 });
    say(`seed ${opts.seed}: ${plan.mode}, faults ${plan.faults}, kill ${plan.kill} after ${plan.killAfterMs} ms`);

    // the load, then the kill
    writer = new PairWriter(primary.url, opts.connections ?? 4);
    await writer.start();
    await sleep(plan.killAfterMs);
    if (plan.kill !== 'agent') await primary.kill9();
    if (plan.kill !== 'server') await agent.kill9();
    // the part that lives on: a live agent may still store what its server sent; a live server's commits wait (lossless) or go on (async)
    await sleep(plan.survivorMs);
    await writer.stop();
    say(`seed ${opts.seed}: ${writer.acked.length} acknowledged of ${writer.attempted} attempted; errors: ${[...new Set(writer.errors)].join(' | ')}`);
    // the control plane stops the instance (forced), then claims the next epoch for the replacement
    await primary.kill9();
    await agent.kill9();
    const restorePort = await freePort();
    const before = await repo.read();
    if (!before) throw new Error(`cluster ${clusterId} has no state`);
    const oldEpoch = before.epoch;
    const claimed = await repo.claimNextEpoch(oldEpoch, undefined, Date.now(), { force: true, primary: { instanceId: `restore-${opts.seed}`, host: '127.0.0.1', port: restorePort } });
    const durable = claimed.durable;
    const durableGtid = durable?.gtid ?? '';

    say(`seed ${opts.seed}: killed; claimed epoch ${oldEpoch + 1}, durable ${describeDurable(durable)}; restoring`);
    // the replacement: restore latest into a fresh server
    const restore = await restoreCluster(config, { kind: 'latest' }, join(dir, 'restored', 'data'), { log: silentLogger, start: true, port: restorePort, progress: false });
    restored = restore.server;
    if (!restored) throw new Error('the restore returned no running server');
    const numbers = async (table: string) => new Set((await restored!.query<{ n: number }[]>(`SELECT n FROM ${table}`)).map((r) => Number(r.n)));
    const restoredA = await numbers(PAIR_TABLES.a);
    const restoredB = await numbers(PAIR_TABLES.b);
    const [pos] = await restored.query<{ p: string }[]>('SELECT @@gtid_binlog_pos AS p');
    const restoredGtid = String(pos?.p ?? '');
    await restored.stop();
    restored = undefined;
    const verdict = checkCrash({ mode: plan.mode, acked: writer.acked, restoredA, restoredB, restoredGtid, durableGtid });
    problems.push(...verdict.problems);

    say(`seed ${opts.seed}: restored ${restoredGtid}; restarting the old primary`);
    // the fenced old primary comes back: its server on its datadir, its agent as it was configured
    const keysBefore = new Set(await chunkKeys(objects, clusterId, oldEpoch));
    await primary.stop();
    primary = await MariaDbServer.start({ dir: join(dir, 'primary'), port: primary.port, extraArgs: semiSyncArgs(plan.mode) });
    agent = startAgent();
    const exitedIn = 60_000;
    const fencedExit = await Promise.race([agent.exited(), sleep(exitedIn).then(() => `still running after ${exitedIn} ms`)]);
    if (typeof fencedExit === 'string') {
      problems.push(`the restarted old agent did not exit: ${fencedExit}`);
      await agent.kill9();
    } else if (fencedExit !== ExitCode.fenced) {
      problems.push(`the restarted old agent exited with ${fencedExit}, not ${ExitCode.fenced} (fenced):\n${agent.log.slice(-2000)}`);
    }
    const after = await repo.read();
    if (JSON.stringify(after?.durable) !== JSON.stringify(durable) || after?.epoch !== oldEpoch + 1) {
      problems.push(`the durable position moved after the claim: ${describeDurable(durable)} at epoch ${oldEpoch + 1}, now ${describeDurable(after?.durable)} at epoch ${after?.epoch}`);
    }
    const written = (await chunkKeys(objects, clusterId, oldEpoch)).filter((k) => !keysBefore.has(k));
    if (written.length > 0) {
      const past = written.filter((k) => (parseChunkKey(k)?.seq ?? 0) > (durable?.seq ?? 0));
      problems.push(`the restarted old agent wrote ${written.length} chunk(s) into epoch ${oldEpoch}${past.length ? `, ${past.length} past the durable seq ${durable?.seq ?? 0}` : ''}: ${written.slice(0, 3).join(', ')}`);
    }
    return {
      ...verdict,
      problems,
      plan,
      clusterId,
      attempted: writer.attempted,
      durableGtid,
      restoredGtid,
      fencedExit,
      s3: { ...proxy.counts },
      durationMs: Date.now() - started,
    };
  } finally {
    await writer?.stop().catch(() => undefined);
    await agent?.kill9().catch(() => undefined);
    await restored?.stop().catch(() => undefined);
    await primary?.stop().catch(() => undefined);
    await proxy?.stop().catch(() => undefined);
    if (!opts.keep) rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  }
}
