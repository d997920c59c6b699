import type { Command } from 'commander';
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCatalog } from '../backup/catalog.js';
import { defaults, parseMysqlUrl, type Config } from '../config.js';
import { describeError, SelfFencedError, ServerConfigError } from '../errors.js';
import { stagingPrefix } from '../keys.js';
import type { Logger } from '../log.js';
import { Maintenance, type MaintenanceDeps } from '../maintenance.js';
import { MeteredObjectStore, MeteredStateRepo, MetricsRecorder, MetricsReporter } from '../metrics.js';
import type { ObjectStore } from '../ports/object-store.js';
import { evaluate, gatherFacts } from '../preflight.js';
import { parseDuration } from '../retention/prune.js';
import { sleep } from '../retry.js';
import { FsObjectStore } from '../store/fs-object-store.js';
import { StreamClassifier } from '../stream/classifier.js';
import { ClusterStateRepo } from '../cluster/repo.js';
import { ServerBinlogSource } from '../stream/server-source.js';
import { ProcessLock } from '../stream/process-lock.js';
import { fileSpill } from '../stream/spill.js';
import { Streamer, type FenceOutcome } from '../stream/streamer.js';
import { openObjectStore, openStateStore, type ClientOptions } from '../wiring.js';
import { ExitCode, runCommand, withConfigOption } from './command.js';
import { BoundedStop } from './stop.js';

const required = ['clusterId', 'mysqlUrl', 'bucket', 'table', 'region'] as const;
type AgentConfig = Partial<Config> & Pick<Config, (typeof required)[number]>;

/**
 * The object store the config names: a local directory when `storeDir` is set, else S3. Every
 * writer here hashes the buffer it puts itself, so a directory does not hash it again.
 */
export function objectStoreFor(config: Partial<Config> & Pick<Config, 'bucket' | 'region'>, clients: ClientOptions = {}) {
  return config.storeDir ? new FsObjectStore(config.storeDir, { verifyDigest: false }) : openObjectStore(config, clients);
}

/** What base backups (and prunes) need, wired from the configuration: one state store for both. */
export function backupDepsFor(
  config: Partial<Config> & Pick<Config, 'clusterId' | 'mysqlUrl' | 'bucket' | 'table' | 'region'>,
  log: Logger,
  clients: ClientOptions = {},
): MaintenanceDeps {
  const stateStore = openStateStore(config, clients);
  return {
    objects: objectStoreFor(config, clients),
    stateStore,
    state: new ClusterStateRepo(stateStore, config.clusterId),
    prefix: config.prefix ?? '',
    clusterId: config.clusterId,
    mysqlUrl: config.mysqlUrl,
    log,
  };
}

/** Refuses to start on a server that fails a fatal check; logs the warnings. */
async function checkServer(config: AgentConfig, log: Logger): Promise<void> {
  const facts = await gatherFacts(config.mysqlUrl, config.serverId ?? (defaults.serverId as number));
  const checks = evaluate(facts, { lossless: config.lossless ?? 'off' });
  for (const c of checks.filter((c) => c.verdict === 'warn')) log.warn({ check: c.name, found: c.found, required: c.required }, `server check: ${c.name}`);
  const fatal = checks.filter((c) => c.verdict === 'fatal');
  if (fatal.length > 0) {
    const { user, host, port } = parseMysqlUrl(config.mysqlUrl);
    throw new ServerConfigError(`${user}@${host}:${port}`, fatal.map((c) => `${c.name} is ${c.found}, needs ${c.required}`));
  }
}

/**
 * `opts.clients.giveUp` also goes to the streamer: a stop that gives up aborts its store requests
 * and retries. `opts.fenced` is aborted by the streamer once it is fenced: the store clients are
 * built with it too, so no request outlives the fence. `opts.objects` replaces the object store the
 * configuration names (tests inject limits). `opts.metrics` is told of every chunk stored and every
 * heartbeat (agent/metrics.ts).
 */
export function buildStreamer(
  config: AgentConfig,
  log: Logger,
  from: 'oldest' | 'current',
  opts: { clients?: ClientOptions; objects?: ObjectStore; leaseToken?: string; predecessorToken?: string; fenced?: AbortController; metrics?: MetricsRecorder } = {},
): { streamer: Streamer; close: () => Promise<void> } {
  const stopClients = opts.clients ?? {};
  const clients = withFence(stopClients, opts.fenced);
  const target = parseMysqlUrl(config.mysqlUrl);
  const source = new ServerBinlogSource({
    ...target,
    serverId: config.serverId ?? (defaults.serverId as number),
    heartbeatMs: Math.min(config.heartbeatIntervalMs ?? 1000, 1000),
    ...((config.lossless ?? 'off') !== 'off' ? { semiSync: true } : {}),
    ...(config.lossless === 'best-effort'
      ? { onSemiSyncUnavailable: (err: ServerConfigError) => log.warn({ err: err.message }, 'lossless=best-effort: the primary does not run semi-sync; streaming asynchronously (commits do not wait for S3)') }
      : {}),
  });
  const unmetered = opts.objects ?? objectStoreFor(config, clients);
  const objects = opts.metrics ? new MeteredObjectStore(unmetered, opts.metrics) : unmetered;
  const staging = stagingPrefix(config.prefix ?? '', config.clusterId);
  const streamer = new Streamer({
    source,
    objects,
    state: opts.metrics
      ? new MeteredStateRepo(openStateStore(config, clients), config.clusterId, opts.leaseToken, opts.metrics)
      : new ClusterStateRepo(openStateStore(config, clients), config.clusterId, opts.leaseToken),
    newClassifier: () => new StreamClassifier(),
    prefix: config.prefix ?? '',
    clusterId: config.clusterId,
    holder: config.agentId ?? `${hostname()}/${target.host}:${target.port}`,
    primary: { ...(config.instanceId ? { instanceId: config.instanceId } : {}), host: target.host, port: target.port },
    ...(opts.predecessorToken ? { predecessorToken: opts.predecessorToken } : {}),
    from,
    chunkMaxBytes: config.chunkMaxBytes ?? (defaults.chunkMaxBytes as number),
    chunkMaxAgeMs: config.chunkMaxAgeMs ?? (defaults.chunkMaxAgeMs as number),
    spill: fileSpill(tmpdir(), async (body) => {
      const key = `${staging}${randomUUID()}`;
      return { key, ...(await objects.putStreamIfAbsent(key, body, {})) };
    }, { stageLimitBytes: objects.copyLimitBytes }),
    maxInFlight: config.uploadConcurrency ?? (defaults.uploadConcurrency as number),
    maxHeldBytes: config.uploadBufferBytes ?? (defaults.uploadBufferBytes as number),
    heartbeatIntervalMs: config.heartbeatIntervalMs ?? (defaults.heartbeatIntervalMs as number),
    leaseMs: config.leaseMs ?? (defaults.leaseMs as number),
    log,
    ...(stopClients.giveUp ? { giveUp: stopClients.giveUp } : {}),
    ...(opts.fenced ? { fenced: opts.fenced } : {}),
    fenceAction: config.fenceAction ?? (defaults.fenceAction as 'read-only'),
    fenceTimeoutMs: fenceTimeoutMs(config),
    selfFence: config.selfFence ?? (defaults.selfFence as boolean),
    ...(config.lossless && config.lossless !== 'off' ? { lossless: config.lossless } : {}),
    chunkEncoding: config.chunkEncoding ?? (defaults.chunkEncoding as 'none'),
  });
  return { streamer, close: () => source.close() };
}

/** Client options whose requests a fence aborts as well as a stop that gave up. */
function withFence(clients: ClientOptions, fenced: AbortController | undefined): ClientOptions {
  if (!fenced) return clients;
  return { ...clients, giveUp: clients.giveUp ? AbortSignal.any([clients.giveUp, fenced.signal]) : fenced.signal };
}

/** The fenced path's bound: the stop's (`stopTimeoutMs`); a fenced agent is gone within it. */
function fenceTimeoutMs(config: AgentConfig): number {
  return config.stopTimeoutMs ?? (defaults.stopTimeoutMs as number);
}

/** The log line and the operator's message of a fenced agent: why, what it did to the server, what now. */
function describeFence(error: Error, outcome: FenceOutcome, server: string): string {
  const did = outcome.serverFenced
    ? outcome.action === 'shutdown'
      ? `shut the server ${server} down`
      : `put the server ${server} read-only (read_only=ON; accounts with READ_ONLY ADMIN can still write)`
    : `COULD NOT ${outcome.action === 'shutdown' ? 'shut down' : 'put read-only'} the server ${server}: stop it by other means now`;
  const sessions = outcome.action === 'shutdown' && outcome.serverFenced ? '' : `, ended ${outcome.endedSessions.length} client session(s)`;
  const problems = outcome.problems.length > 0 ? ` (problems: ${outcome.problems.join('; ')})` : '';
  const next =
    error instanceof SelfFencedError
      ? 'if `squirrel status` still shows this epoch, start the agent again and open writes only once it holds the lease; else rebuild the server from a restore'
      : 'rebuild it from a restore';
  return `fenced: ${error.message}; uploaded nothing more (${outcome.dropped.length} chunk(s) dropped), ${did}${sessions}${problems}; the server must not rejoin as it is: ${next} (docs/fencing.md)`;
}

/** `squirrel agent`: stream the binlog to the object store until stopped (SIGINT/SIGTERM). */
export function register(program: Command): void {
  withConfigOption(program.command('agent'))
    .description('stream the binlog to S3 and keep the durable position (runs until stopped)')
    .option('--from <where>', 'on a cluster\'s first start: "oldest" binlog the server has, or its "current" position', 'oldest')
    .action(async (opts: { config?: string; from: string }) => {
      await runCommand(opts, required, async ({ config, log }) => {
        if (opts.from !== 'oldest' && opts.from !== 'current') {
          process.stderr.write(`squirrel: --from must be "oldest" or "current", got "${opts.from}"\n`);
          return ExitCode.usage;
        }
        const bound = new BoundedStop({ timeoutMs: config.stopTimeoutMs ?? (defaults.stopTimeoutMs as number), log });
        bound.install();
        try {
          return await runAgent(config, log, opts.from, bound);
        } finally {
          bound.settle();
        }
      });
    });
}

/** The state directory of the agent of this cluster and server: `stateDir`, or one under the system temp dir. */
export function agentStateDir(config: Pick<Config, 'clusterId' | 'mysqlUrl'> & Partial<Config>): string {
  if (config.stateDir) return config.stateDir;
  const { host, port } = parseMysqlUrl(config.mysqlUrl);
  return join(tmpdir(), 'squirrel', config.clusterId, `${host}_${port}`);
}

/**
 * Takes this server's agent lock, waiting (and saying so) while another live agent holds it;
 * undefined when a stop came first. One agent per server: two would kick each other's dump threads.
 */
async function takeProcessLock(config: AgentConfig, token: string, log: Logger, bound: BoundedStop): Promise<{ predecessor?: string } | undefined> {
  const lock = new ProcessLock(agentStateDir(config), token);
  let told = false;
  while (!bound.isRequested) {
    const outcome = await lock.take();
    if (outcome.taken) {
      if (outcome.predecessor) log.info({ lock: lock.dir }, 'the previous agent of this server is gone: taking its lease back at once');
      return outcome;
    }
    if (!told) {
      log.warn(
        { pid: outcome.holder.pid, since: outcome.holder.at, lock: lock.dir },
        `another agent (pid ${outcome.holder.pid}, since ${outcome.holder.at}) streams this server; waiting for it to stop (one agent per server)`,
      );
      told = true;
    }
    await sleep(1000, bound.giveUp.signal).catch(() => undefined);
    if (bound.isRequested) break;
  }
  return undefined;
}

/**
 * Writes the agent's metrics (agent/metrics.ts) to `metricsFile` ("-": stdout) every
 * `metricsIntervalMs` (at least one heartbeat interval, so that a line always spans a renewal).
 */
function startMetrics(config: AgentConfig, metricsFile: string, log: Logger, objects: ObjectStore): { recorder: MetricsRecorder; stop: () => void } {
  const recorder = new MetricsRecorder(Date.now());
  const file = metricsFile === '-' ? undefined : createWriteStream(metricsFile, { flags: 'a' });
  file?.on('error', (err) => log.warn({ err: err.message, metricsFile }, 'could not write the metrics file'));
  const reporter = new MetricsReporter({
    clusterId: config.clusterId,
    recorder,
    write: (line) => (file ? file.write(`${line}\n`) : process.stdout.write(`${line}\n`)),
    intervalMs: Math.max(config.metricsIntervalMs ?? (defaults.metricsIntervalMs as number), config.heartbeatIntervalMs ?? (defaults.heartbeatIntervalMs as number)),
    newestBackup: async () => {
      const complete = (await readCatalog(objects, config.prefix ?? '', config.clusterId)).complete;
      const newest = complete[complete.length - 1];
      return newest ? Date.parse(newest.completedAt) : undefined;
    },
    log,
  });
  reporter.start();
  log.info({ metricsFile, intervalMs: reporter.intervalMs }, 'writing metrics (CloudWatch embedded metric format)');
  return {
    recorder,
    stop: () => {
      reporter.stop();
      file?.end();
    },
  };
}

/** The agent's life from the server check to the end of its (bounded) stop; returns the exit code. */
async function runAgent(config: AgentConfig, log: Logger, from: 'oldest' | 'current', bound: BoundedStop): Promise<number> {
  log.info({ clusterId: config.clusterId, stopTimeoutMs: bound.timeoutMs }, `agent starting for cluster ${config.clusterId}`);
  await checkServer(config, log);
  if (bound.isRequested) return ExitCode.ok; // stopped before it began: nothing held
  const leaseToken = randomUUID();
  const lock = await takeProcessLock(config, leaseToken, log, bound);
  if (!lock) return ExitCode.ok; // stopped while another agent held this server: nothing held
  const clients = { giveUp: bound.giveUp.signal };
  // aborted by the streamer the moment it is fenced: every store request (backups too) ends with it
  const fenced = new AbortController();
  fenced.signal.addEventListener('abort', () => {
    // the bound holds whatever still holds the process (a request the SDK does not let go)
    const code = fenced.signal.reason instanceof SelfFencedError ? ExitCode.selfFenced : ExitCode.fenced;
    setTimeout(() => {
      log.error({ exitCode: code }, 'fenced: something still holds the process at the end of the fence bound; exiting now');
      process.exit(code);
    }, fenceTimeoutMs(config) + 1000).unref();
  }, { once: true });
  const metrics = config.metricsFile ? startMetrics(config, config.metricsFile, log, objectStoreFor(config, withFence(clients, fenced))) : undefined;
  const { streamer, close } = buildStreamer(config, log, from, {
    clients,
    fenced,
    leaseToken,
    ...(lock.predecessor ? { predecessorToken: lock.predecessor } : {}),
    ...(metrics ? { metrics: metrics.recorder } : {}),
  });
  const maintenance = new Maintenance(backupDepsFor(config, log, withFence(clients, fenced)), {
    ...(config.backupInterval ? { backupIntervalMs: parseDuration(config.backupInterval) } : {}),
    backupKind: config.backupKind ?? 'physical',
    ...(config.retention ? { retentionMs: parseDuration(config.retention) } : {}),
    pruneIntervalMs: parseDuration(config.pruneInterval ?? '1h'),
  });
  maintenance.start();
  bound.onStop(() => {
    void streamer.stop();
    void maintenance.stop(bound.giveUp.signal);
  });
  const reason = await streamer.run();
  metrics?.stop();
  if (reason.kind === 'fenced') {
    // no backup, no upload: the maintenance's requests were aborted with the fence
    await maintenance.stop(fenced.signal);
    await close();
    const { host, port } = parseMysqlUrl(config.mysqlUrl);
    const line = describeFence(reason.error, reason.outcome, `${host}:${port}`);
    log.error({ err: reason.error.message, self: reason.error instanceof SelfFencedError, ...reason.outcome }, line);
    process.stderr.write(`squirrel: ${line}\n${describeError(reason.error).split('\n').filter((l) => l.startsWith('hint:')).join('\n')}\n`);
    return reason.error instanceof SelfFencedError ? ExitCode.selfFenced : ExitCode.fenced;
  }
  await maintenance.stop(bound.giveUp.signal);
  await close();
  if (reason.kind === 'failed') throw reason.error;
  if (reason.kind === 'cut') return ExitCode.stopCutShort; // the streamer logged what it left
  log.info('stopped');
  return ExitCode.ok;
}
