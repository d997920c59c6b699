import type { Command } from 'commander';
import type { Config } from '../config.js';
import { readInventory } from '../restore/inventory.js';
import { planRestore } from '../restore/plan.js';
import { describePrediction, predictRestore } from '../restore/rto.js';
import { restoreRates } from '../restore/restore-history.js';
import { objectStoreFor } from './agent.js';
import { ClusterStateRepo, type ClusterState, type SemiSyncReport } from '../cluster/repo.js';
import { openStateStore } from '../wiring.js';
import { ExitCode, runCommand, withConfigOption } from './command.js';

export interface StatusReport {
  clusterId: string;
  epoch: number;
  status: string;
  durable: ClusterState['durable'];
  heartbeatAt: string | null;
  heartbeatAgeSeconds: number | null;
  leaseHolder: string;
  /** Seconds between the newest event the agent has seen and what is durable, as the agent last reported. */
  lagSeconds: number | null;
  /** Bytes the server has written past the durable position, as of the last heartbeat. */
  bytesBehind: number | null;
  server: ClusterState['server'];
  /** The server the current epoch belongs to. */
  primary: ClusterState['primary'] | null;
  /** Lossless mode as the agent last reported it; mode `off` when it reports none. */
  semiSync: SemiSyncReport | { mode: 'off'; enabled: false; status: 'off'; fallbacks: 0 };
}

/** Pure: the status report from the state item and the current time. */
export function statusReport(state: ClusterState, nowMs: number): StatusReport {
  const heartbeatAgeSeconds = state.heartbeatAt ? Math.max(0, (nowMs - Date.parse(state.heartbeatAt)) / 1000) : null;
  let bytesBehind: number | null = null;
  if (state.server && state.durable && state.server.file === state.durable.file) bytesBehind = Math.max(0, state.server.pos - state.durable.end);
  else if (state.server && !state.durable) bytesBehind = Math.max(0, state.server.pos - state.start.pos);
  return {
    clusterId: state.clusterId,
    epoch: state.epoch,
    status: state.status,
    durable: state.durable,
    heartbeatAt: state.heartbeatAt,
    heartbeatAgeSeconds,
    leaseHolder: state.leaseHolder,
    lagSeconds: state.lagSeconds ?? null,
    bytesBehind,
    server: state.server,
    primary: state.primary ?? null,
    semiSync: state.semiSync ?? { mode: 'off', enabled: false, status: 'off', fallbacks: 0 },
  };
}

/** The status line of lossless mode: loud when the primary commits asynchronously. */
export function describeSemiSync(s: StatusReport['semiSync']): string {
  if (s.mode === 'off') return 'off (commits do not wait for S3)';
  const fallbacks = `${s.fallbacks} fallback(s) since the primary started`;
  if (s.status === 'on') return `${s.mode}: on, commits wait for S3 (${fallbacks})`;
  if (s.status === 'unknown') return `${s.mode}: not read from the primary yet`;
  const why = s.enabled ? 'FELL BACK to asynchronous commits' : 'semi-sync is OFF on the primary';
  return `${s.mode}: ${why} since ${'since' in s ? s.since : '?'}: acknowledged commits may not be in S3, RPO above zero (${fallbacks})`;
}

/** A restore to latest now: the newest complete backup and the chunks since, timed by rto.ts. */
export interface PredictedRestore {
  seconds: number;
  backupId: string;
  transactions: number;
  backupBytes: number;
  chunkBytes: number;
  rates: string;
  line: string;
}

async function predictLatest(config: Config, state: ClusterState): Promise<PredictedRestore | { error: string }> {
  try {
    const objects = objectStoreFor(config);
    const inv = await readInventory(objects, openStateStore(config), config.prefix, config.clusterId, { withMetadata: false });
    const plan = planRestore({ target: { kind: 'latest' }, state, starts: inv.starts, manifests: inv.catalog.complete, chunks: inv.chunks, prunedThrough: inv.prunedThrough });
    const p = predictRestore(plan, await restoreRates(objects, config.prefix, config.clusterId));
    return { seconds: Math.round(p.seconds), backupId: plan.backup.id, transactions: p.transactions, backupBytes: plan.bytes.backup, chunkBytes: plan.bytes.chunks, rates: p.rates.source, line: describePrediction(p) };
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
}

export function register(program: Command): void {
  withConfigOption(program.command('status'))
    .description('show the cluster\'s epoch, durable position, heartbeat age and lag')
    .option('--json', 'print one JSON object')
    .action(async (opts: { config?: string; json?: boolean }) => {
      await runCommand(opts, ['clusterId', 'table', 'region'], async ({ config, out }) => {
        const repo = new ClusterStateRepo(openStateStore(config), config.clusterId);
        const state = await repo.read();
        if (!state) {
          if (opts.json) out(JSON.stringify({ clusterId: config.clusterId, epoch: 0, status: 'UNKNOWN', durable: null, heartbeatAt: null }));
          else out(`cluster ${config.clusterId} has no state in table ${config.table}: no agent has streamed it yet`);
          return ExitCode.failed;
        }
        const r = statusReport(state, Date.now());
        // the restore-time prediction needs the bucket (backups and chunks); without it, status is the state item alone
        const predicted = config.bucket ? await predictLatest(config as Config, state) : undefined;
        const lastFailover = (await repo.lastFailover()) ?? null;
        if (opts.json) {
          out(JSON.stringify({ ...r, lastFailover, ...(predicted ? { predictedRestore: predicted } : {}) }));
          return ExitCode.ok;
        }
        const rows: [string, string][] = [
          ['cluster', r.clusterId],
          ['epoch', String(r.epoch)],
          ['status', r.status],
          ['durable', r.durable ? `${r.durable.file}:${r.durable.end} seq ${r.durable.seq} gtid ${r.durable.gtid || '-'} at ${r.durable.at}` : 'nothing yet'],
          ['durable chunk', r.durable?.key ?? '-'],
          ['heartbeat', r.heartbeatAt ? `${r.heartbeatAt} (${r.heartbeatAgeSeconds!.toFixed(1)} s ago)` : 'never'],
          ['lease holder', r.leaseHolder || '(none)'],
          ['primary', r.primary ? `${r.primary.instanceId ? `${r.primary.instanceId} ` : ''}${r.primary.host}:${r.primary.port}` : '(none named)'],
          ['last failover', lastFailover ? `epoch ${lastFailover.epoch} ${lastFailover.result}, started ${lastFailover.startedAt}, endpoint moved ${lastFailover.endpointMovedAt ?? 'never'}` : 'none'],
          ['server at', r.server ? `${r.server.file}:${r.server.pos}` : 'unknown'],
          ['lossless', describeSemiSync(r.semiSync)],
          ['lag', r.lagSeconds === null ? 'unknown' : `${r.lagSeconds.toFixed(3)} s`],
          ['bytes behind', r.bytesBehind === null ? 'unknown' : String(r.bytesBehind)],
        ];
        if (predicted) rows.push(['restore (RTO)', 'line' in predicted ? predicted.line.replace(/^predicted: +/, '') : `cannot predict: ${predicted.error}`]);
        for (const [k, v] of rows) out(`${k.padEnd(14)} ${v}`);
        return ExitCode.ok;
      });
    });
}
