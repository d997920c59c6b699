import type { Command } from 'commander';
import { randomUUID } from 'node:crypto';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaults, parseMysqlUrl, type Config } from '../config.js';
import { ServerConfigError } from '../errors.js';
import { stagingPrefix } from '../keys.js';
import type { Logger } from '../log.js';
import { Maintenance, type MaintenanceDeps } from '../maintenance.js';
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
import { Streamer } from '../stream/streamer.js';
import { openObjectStore, openStateStore, type ClientOptions } from '../wiring.js';
import { ExitCode, runCommand, withConfigOption } from './command.js';
import { BoundedStop } from './stop.js';

const required = ['clusterId', 'mysqlUrl', 'bucket', 'table', 'region'] as const;
type AgentConfig = Partial<Config> & Pick<Config, (typeof required)[number]>;

/** The object store the config names: a local directory when `storeDir` is set, else S3. */
export function objectStoreFor(config: Partial<Config> & Pick<Config, 'bucket' | 'region'>, clients: ClientOptions = {}) {
  return config.storeDir ? new FsObjectStore(config.storeDir) : openObjectStore(config, clients);
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
  const checks = evaluate(facts);
  for (const c of checks.filter((c) => c.verdict === 'warn')) log.warn({ check: c.name, found: c.found, required: c.required }, `server check: ${c.name}`);
  const fatal = checks.filter((c) => c.verdict === 'fatal');
  if (fatal.length > 0) {
    const { user, host, port } = parseMysqlUrl(config.mysqlUrl);
    throw new ServerConfigError(`${user}@${host}:${port}`, fatal.map((c) => `${c.name} is ${c.found}, needs ${c.required}`));
  }
}

/**
 * `opts.clients.giveUp` also goes to the streamer: a stop that gives up aborts its store requests
 * and retries. `opts.objects` replaces the object store the configuration names (tests inject limits).
 */
export function buildStreamer(
  config: AgentConfig,
  log: Logger,
  from: 'oldest' | 'current',
  opts: { clients?: ClientOptions; objects?: ObjectStore; leaseToken?: string; predecessorToken?: string } = {},
): { streamer: Streamer; close: () => Promise<void> } {
  const clients = opts.clients ?? {};
  const target = parseMysqlUrl(config.mysqlUrl);
  const source = new ServerBinlogSource({
    ...target,
    serverId: config.serverId ?? (defaults.serverId as number),
    heartbeatMs: Math.min(config.heartbeatIntervalMs ?? 1000, 1000),
  });
  const objects = opts.objects ?? objectStoreFor(config, clients);
  const staging = stagingPrefix(config.prefix ?? '', config.clusterId);
  const streamer = new Streamer({
    source,
    objects,
    state: new ClusterStateRepo(openStateStore(config, clients), config.clusterId, opts.leaseToken),
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
    ...(clients.giveUp ? { giveUp: clients.giveUp } : {}),
  });
  return { streamer, close: () => source.close() };
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

/** The agent's life from the server check to the end of its (bounded) stop; returns the exit code. */
async function runAgent(config: AgentConfig, log: Logger, from: 'oldest' | 'current', bound: BoundedStop): Promise<number> {
  log.info({ clusterId: config.clusterId, stopTimeoutMs: bound.timeoutMs }, `agent starting for cluster ${config.clusterId}`);
  await checkServer(config, log);
  if (bound.isRequested) return ExitCode.ok; // stopped before it began: nothing held
  const leaseToken = randomUUID();
  const lock = await takeProcessLock(config, leaseToken, log, bound);
  if (!lock) return ExitCode.ok; // stopped while another agent held this server: nothing held
  const clients = { giveUp: bound.giveUp.signal };
  const { streamer, close } = buildStreamer(config, log, from, { clients, leaseToken, ...(lock.predecessor ? { predecessorToken: lock.predecessor } : {}) });
  const maintenance = new Maintenance(backupDepsFor(config, log, clients), {
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
  await maintenance.stop(bound.giveUp.signal);
  await close();
  if (reason.kind === 'failed') throw reason.error;
  if (reason.kind === 'cut') return ExitCode.stopCutShort; // the streamer logged what it left
  log.info('stopped');
  return ExitCode.ok;
}
