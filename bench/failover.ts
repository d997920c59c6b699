/**
 * Benchmark: failover time (RTO) of the local cluster, phase by phase, under a write load.
 *   1. A local cluster (agent/local/cluster): stand-ins, a first primary instance, the endpoint
 *      forwarder, the control plane running the synthesized workflows.
 *   2. sysbench `oltp_write_only` prepare of `--tables` × `--scale` rows straight into the
 *      primary (root at its own port), then a fresh base backup (`squirrel backup`), and the
 *      durable position caught up with the primary.
 *   3. Per failover: sysbench `oltp_write_only` through the endpoint (8 threads, errors ignored,
 *      for `--load-seconds`, started again whenever it ends early: see sysbenchLoad) and a NumberedWriter through the endpoint (the probe: one
 *      transaction at a time, reconnecting every 50 ms); after `--warm-seconds`, SIGKILL of the
 *      primary's process group. Kill → first write accepted at the endpoint, broken down by the
 *      cluster's timeline, the replacement's status history and its restore's own phase record.
 *      Then the load ends and the replacement's base backup after promotion is waited for, so the
 *      next failover restores from a recent backup too.
 * Results: bench/results/failover.json (failover-quick.json with --quick).
 *
 *   node dist/bench/failover.js [--quick] [--scale 550000] [--tables 8] [--failovers 3] [--warm-seconds 15] [--load-seconds 90] [--lease-ms 10000] [--keep]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import mysql from 'mysql2/promise';
import { objectStoreFor } from '../agent/cli/agent.js';
import { ClusterStateRepo, handoverOf } from '../agent/cluster/repo.js';
import { clusterDown, clusterKill, clusterStatus, clusterUp, primaryInstance, waitForExecution, type ClusterStatus } from '../agent/local/cluster/cluster.js';
import { readTimeline, type TimelineEvent } from '../agent/local/cluster/files.js';
import { gtidSeq, NumberedWriter, positionSeq } from '../agent/local/cluster/writer.js';
import { lastRestore, type RestoreRecord } from '../agent/restore/restore-history.js';
import { freePort } from '../agent/server/free-port.js';
import { openStateStore } from '../agent/wiring.js';
import { machine, median, run, say, writeResults } from './common.js';

const args = process.argv.slice(2);
const QUICK = args.includes('--quick');
const option = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const TABLES = option('--tables', 8);
const SCALE = option('--scale', QUICK ? 10_000 : 550_000);
const FAILOVERS = option('--failovers', QUICK ? 1 : 3);
const WARM_SECONDS = option('--warm-seconds', QUICK ? 10 : 15);
/** How long the sysbench load runs per failover: the warm-up, the failover, and load on the new primary. */
const LOAD_SECONDS = option('--load-seconds', QUICK ? 60 : 90);
const LEASE_MS = option('--lease-ms', 10_000);
const KEEP = args.includes('--keep');
const CLUSTER = 'bench-failover';
const GOAL_MS = 30_000;

const sec = (ms: number) => Math.round(ms / 100) / 10;
const ms = (iso: string) => Date.parse(iso);

/** A command's output whether or not it exited 0 (sysbench may end on a FATAL error). */
async function runAll(cmd: string, argv: string[]): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  try {
    return { ok: true, stdout: await run(cmd, argv), stderr: '' };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string; code?: number | string; signal?: string };
    return { ok: false, stdout: e.stdout ?? '', stderr: `exit code ${e.code ?? '-'}, signal ${e.signal ?? '-'}; ${e.stderr || e.message}` };
  }
}

/** What one sysbench process said: totals (when it got to print them), and its per-second reports. */
function parseSysbench(out: string, startedAt: number) {
  const num = (re: RegExp) => {
    const m = re.exec(out);
    return m ? Number(m[1]) : undefined;
  };
  const intervals = [...out.matchAll(/\[ (\d+)s \] thds: (\d+) tps: ([\d.]+) qps: [\d.]+ \([^)]*\) lat \(ms,95%\): [\d.]+ err\/s: ([\d.]+) reconn\/s: ([\d.]+)/g)].map((m) => ({
    /** End of the interval (ms since the epoch; the process's start plus its seconds). */
    at: startedAt + Number(m[1]) * 1000,
    threads: Number(m[2]),
    tps: Number(m[3]),
    errPerSec: Number(m[4]),
    reconnPerSec: Number(m[5]),
  }));
  return {
    transactions: num(/transactions:\s+(\d+)/),
    ignoredErrors: num(/ignored errors:\s+(\d+)/),
    reconnects: num(/reconnects:\s+(\d+)/),
    fatal: [...out.matchAll(/^.*FATAL.*$/gm)].map((m) => m[0]).slice(0, 3),
    intervals,
  };
}

/**
 * sysbench through the endpoint until `untilMs`, started again whenever it ends early: sysbench
 * 1.0.20 as Debian builds it (libmariadb) does not survive a lost connection (it crashes, or
 * cannot connect at its start while the endpoint has no primary), so the load is a loop of
 * processes, as an application's restarts would be. Each process is recorded.
 */
async function sysbenchLoad(argv: string[], untilMs: number, restartDelayMs = 200) {
  const processes: { startedAt: number; endedAt: number; ok: boolean; exit: string; transactions?: number; ignoredErrors?: number; reconnects?: number; fatal: string[]; intervals: ReturnType<typeof parseSysbench>['intervals'] }[] = [];
  while (Date.now() < untilMs - 1000) {
    const startedAt = Date.now();
    const r = await runAll('sysbench', [...argv, `--time=${Math.ceil((untilMs - startedAt) / 1000)}`, 'run']);
    processes.push({ startedAt, endedAt: Date.now(), ok: r.ok, exit: r.ok ? 'exit 0' : r.stderr.split(';')[0]!, ...parseSysbench(`${r.stdout}\n${r.stderr}`, startedAt) });
    if (!r.ok) await sleep(restartDelayMs);
  }
  return processes;
}

interface Phases {
  detectionMs: number;
  fencingMs: number;
  launchMs: number;
  restoreBaseMs: number;
  replayMs: number;
  restoreFinishMs: number;
  promoteMs: number;
  joinMs: number;
  endpointMs: number;
  firstWriteMs: number;
}
const PHASE_NAMES: (keyof Phases)[] = ['detectionMs', 'fencingMs', 'launchMs', 'restoreBaseMs', 'replayMs', 'restoreFinishMs', 'promoteMs', 'joinMs', 'endpointMs', 'firstWriteMs'];

async function main(): Promise<void> {
  const started = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'sq-bench-failover-'));
  say(`cluster in ${dir}`);
  let writer: NumberedWriter | undefined;
  try {
    const up = await clusterUp(dir, { clusterId: CLUSTER, endpointPort: await freePort(), leaseMs: LEASE_MS });
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: up.env.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: up.env.AWS_SECRET_ACCESS_KEY });
    const config = { table: up.env.SQUIRREL_TABLE!, region: up.env.SQUIRREL_REGION!, dynamodbEndpoint: up.env.SQUIRREL_DYNAMODB_ENDPOINT!, bucket: up.env.SQUIRREL_BUCKET!, s3Endpoint: up.env.SQUIRREL_S3_ENDPOINT! };
    const repo = new ClusterStateRepo(openStateStore(config), CLUSTER);
    const objects = objectStoreFor(config);
    const endpointPort = Number(new URL(up.endpointUrl).port);
    say(`cluster up in ${sec(Date.now() - started)} s; endpoint 127.0.0.1:${endpointPort}`);

    const primaryPort = async () => (await primaryInstance(dir))!.port;
    const rootUrl = (port: number) => `mysql://root:squirrel-root@127.0.0.1:${port}`;
    /** Waits until the durable position is the primary's binlog position (nothing written meanwhile). */
    const caughtUp = async (timeoutMs = 300_000) => {
      const conn = await mysql.createConnection(rootUrl(await primaryPort()));
      try {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const [[pos]] = (await conn.query('SELECT @@gtid_binlog_pos AS p')) as unknown as [{ p: string }[]];
          if ((await repo.read())?.durable?.gtid === pos!.p) return;
          if (Date.now() > deadline) throw new Error(`durable position not caught up with ${pos!.p} after ${timeoutMs} ms`);
          await sleep(200);
        }
      } finally {
        await conn.end();
      }
    };

    // ---- the database, its base backup
    let t0 = Date.now();
    const port0 = await primaryPort();
    {
      const conn = await mysql.createConnection(rootUrl(port0));
      await conn.query('CREATE DATABASE IF NOT EXISTS sbtest');
      await conn.end();
    }
    const sbCommon = ['--db-driver=mysql', '--mysql-host=127.0.0.1', '--mysql-db=sbtest', `--tables=${TABLES}`, `--table-size=${SCALE}`];
    await run('sysbench', ['oltp_write_only', ...sbCommon, `--mysql-port=${port0}`, '--mysql-user=root', '--mysql-password=squirrel-root', '--threads=2', 'prepare']);
    const prepareSeconds = sec(Date.now() - t0);
    const tableBytes = await (async () => {
      const conn = await mysql.createConnection(rootUrl(port0));
      try {
        const [[row]] = (await conn.query("SELECT SUM(data_length + index_length) AS b FROM information_schema.tables WHERE table_schema = 'sbtest'")) as unknown as [{ b: string }[]];
        return Number(row!.b);
      } finally {
        await conn.end();
      }
    })();
    say(`database: ${TABLES} × ${SCALE} rows, ${(tableBytes / 2 ** 20).toFixed(0)} MiB of tables, prepared in ${prepareSeconds} s`);
    await caughtUp();
    t0 = Date.now();
    const backupEnv = Object.entries({ ...up.env, SQUIRREL_MYSQL_URL: rootUrl(port0), SQUIRREL_CLUSTER_ID: CLUSTER }).map(([k, v]) => `${k}=${v}`);
    const backupOut = await run('env', [...backupEnv, process.execPath, new URL('../agent/cli/main.js', import.meta.url).pathname, 'backup', '--json']);
    const manifest = JSON.parse(backupOut.slice(backupOut.indexOf('{'))) as { id: string; object: { sizeBytes: number; rawSizeBytes: number } };
    const backupSeconds = sec(Date.now() - t0);
    say(`base backup ${manifest.id}: ${(manifest.object.rawSizeBytes / 2 ** 20).toFixed(0)} MiB raw, ${(manifest.object.sizeBytes / 2 ** 20).toFixed(0)} MiB stored, ${backupSeconds} s`);
    await caughtUp();

    writer = new NumberedWriter(up.endpointUrl);
    await writer.start();
    let epochSince = 0;
    const sbRun = ['oltp_write_only', ...sbCommon, `--mysql-port=${endpointPort}`, '--mysql-user=app', '--mysql-password=app-password', '--threads=8', '--report-interval=1', '--mysql-ignore-errors=all'];
    const runs: Record<string, unknown>[] = [];
    const phaseRuns: (Phases & { totalMs: number })[] = [];

    for (let n = 1; n <= FAILOVERS; n++) {
      const before = (await repo.read())!;
      const epoch = before.epoch;
      const backupBefore = n === 1 ? manifest.id : (await primaryInstance(dir))?.status?.backupId;
      const sbStartedAt = Date.now();
      const sysbench = sysbenchLoad(sbRun, sbStartedAt + LOAD_SECONDS * 1000);
      await sleep(WARM_SECONDS * 1000);
      await writer.waitForAcks(20);
      const durableAtKill = (await repo.read())?.durable?.gtid;
      const durableLagAtKill = (() => {
        const last = writer.acked.at(-1);
        return last ? gtidSeq(last.gtid) - positionSeq(durableAtKill) : undefined;
      })();
      const killed = await clusterKill(dir, 'instance');
      const killedAt = Date.now();
      say(`failover ${n}: killed ${killed.instanceId} (epoch ${epoch}) at +${sec(killedAt - sbStartedAt)} s of load`);
      const execution = `failover-${CLUSTER}-epoch-${epoch}`;
      const outcome = await waitForExecution(dir, execution, 600_000);
      if (outcome.status !== 'SUCCEEDED') throw new Error(`${execution}: ${JSON.stringify(outcome)}`);
      await writer.waitForAcks(20, 120_000);
      const cut = writer.errors.find((e) => e.at >= killedAt)?.at ?? killedAt;
      const firstAck = writer.acked.find((a) => a.at > cut)!;
      const acksBefore = writer.acked.filter((a) => a.at > epochSince && a.at <= cut);
      epochSince = cut;
      const state = (await repo.read())!;
      const handover = handoverOf(state, epoch);
      const durableSeq = positionSeq(handover?.durable?.gtid);
      const lost = acksBefore.filter((a) => gtidSeq(a.gtid) > durableSeq);
      const lastSeqBefore = Math.max(0, ...acksBefore.map((a) => gtidSeq(a.gtid)));
      const writerErrors = writer.errors.filter((e) => e.at >= killedAt && e.at <= firstAck.at);
      say(`failover ${n}: ${execution} SUCCEEDED; first write ${sec(firstAck.at - killedAt)} s after the kill; ${lost.length} acknowledged rows lost`);

      // the load ends; the replacement's base backup of the new timeline is the next failover's
      const sb = await sysbench;
      let status: ClusterStatus | undefined;
      let replacement: ClusterStatus['instances'][number] | undefined;
      for (let i = 0; ; i++) {
        status = await clusterStatus(dir);
        replacement = status.instances.find((x) => x.epoch === epoch + 1 && x.job.kind === 'restore-and-promote');
        if (replacement?.status?.backupId) break;
        if (replacement?.status?.phase === 'failed') throw new Error(`replacement failed: ${replacement.status.detail}`);
        if (i > 3000) throw new Error('the replacement took no base backup after promotion in 10 min');
        await sleep(200);
      }
      const backupAfterPromotionAt = Date.now();

      // the phases: contiguous marks from the kill to the first accepted write
      const timeline = readTimeline(dir).filter((e) => ms(e.at) >= killedAt - 1000);
      const find = (kind: string, pred: (e: TimelineEvent) => boolean, after = killedAt - 1000) => timeline.find((e) => e.kind === kind && ms(e.at) >= after && pred(e));
      const at = (e: TimelineEvent | undefined, what: string) => {
        if (!e) throw new Error(`failover ${n}: no ${what} on the timeline`);
        return ms(e.at);
      };
      const terminatedAt = at(find('instance', (e) => e.detail.startsWith(`${killed.instanceId} is terminated`)), 'termination');
      const wfStartedAt = at(find('workflow', (e) => e.detail.startsWith(`failover ${execution} started`)), 'workflow start');
      const reserveAt = at(find('compute', (e) => e.detail.startsWith('reserve'), wfStartedAt), 'reserve');
      const launchAt = at(find('compute', (e) => e.detail.startsWith('launch'), wfStartedAt), 'launch');
      const pointAt = at(find('endpoint', (e) => e.detail.startsWith('point'), launchAt), 'endpoint point');
      const wfEndedAt = at(find('workflow', (e) => e.detail.startsWith(`${execution} SUCCEEDED`)), 'workflow end');
      const history = Object.fromEntries(replacement!.status!.history.map((h) => [h.phase, ms(h.at)])) as Record<string, number>;
      for (const p of ['starting', 'restoring', 'promoting', 'joining', 'streaming']) if (history[p] === undefined) throw new Error(`failover ${n}: the replacement's history has no ${p}`);
      const record: RestoreRecord | undefined = await lastRestore(objects, '', CLUSTER);
      if (!record || ms(record.at) < killedAt) throw new Error(`failover ${n}: no restore record after the kill`);
      const restoreBaseMs = record.planMs + record.fetchMs + record.prepareMs + record.startMs;
      const restoreTotalMs = history.promoting! - history.starting!;
      const phases: Phases = {
        detectionMs: wfStartedAt - killedAt,
        fencingMs: launchAt - wfStartedAt,
        launchMs: history.starting! - launchAt,
        restoreBaseMs,
        replayMs: record.replayMs,
        // the restore's finish (replay server stopped, started again durable), its record, the job's own start
        restoreFinishMs: restoreTotalMs - restoreBaseMs - record.replayMs,
        promoteMs: history.joining! - history.promoting!,
        joinMs: history.streaming! - history.joining!,
        endpointMs: pointAt - history.streaming!,
        firstWriteMs: firstAck.at - pointAt,
      };
      const totalMs = firstAck.at - killedAt;
      phaseRuns.push({ ...phases, totalMs });
      // sysbench's own view: which process the kill cut, how it ended, when a process wrote again
      const cutProcess = sb.find((p) => p.startedAt <= killedAt && p.endedAt >= killedAt);
      const resumed = sb.filter((p) => p.startedAt > killedAt).flatMap((p) => p.intervals.filter((i) => i.tps > 0).map((i) => ({ ...i, processStartedAt: p.startedAt })))[0];
      const sbSummary = {
        processes: sb.length,
        endedEarly: sb.filter((p) => !p.ok).length,
        /** Started while the endpoint had no primary, ended before reporting a second. */
        failedStarts: sb.filter((p) => !p.ok && p.intervals.length === 0).length,
        cutByKill: cutProcess ? { exit: cutProcess.exit, endedAfterKillMs: cutProcess.endedAt - killedAt, fatal: cutProcess.fatal, lastIntervals: cutProcess.intervals.slice(-3) } : undefined,
        /** The end of the first second in which a process started after the kill committed (1 s resolution: an upper bound). */
        resumedAfterKillMs: resumed ? resumed.at - killedAt : undefined,
        resumedProcessStartedAfterKillMs: resumed ? resumed.processStartedAt - killedAt : undefined,
        /** Transactions: the summaries, or the per-second reports of a process that printed none. */
        transactions: Math.round(sb.reduce((t, p) => t + (p.transactions ?? p.intervals.reduce((x, i) => x + i.tps, 0)), 0)),
        txPerSecBeforeKill: median((cutProcess?.intervals ?? []).filter((i) => i.at <= killedAt && i.at > killedAt - 5000).map((i) => i.tps)),
        ignoredErrors: sb.reduce((t, p) => t + (p.ignoredErrors ?? 0), 0),
        reconnects: sb.reduce((t, p) => t + (p.reconnects ?? 0), 0),
        errorsPerSecReported: sb.reduce((t, p) => t + p.intervals.reduce((x, i) => x + i.errPerSec, 0), 0),
        exits: [...new Set(sb.map((p) => p.exit))],
        fatal: [...new Set(sb.flatMap((p) => p.fatal))].slice(0, 5),
      };
      const r = {
        failover: n,
        epoch,
        killed: killed.instanceId,
        replacement: replacement!.instanceId,
        backupRestoredFrom: record.backupId,
        backupBeforeKill: backupBefore,
        totalMs,
        phases,
        restoreRecord: record,
        marks: {
          killedAt: new Date(killedAt).toISOString(),
          terminatedAfterMs: terminatedAt - killedAt,
          workflowStartedAfterMs: wfStartedAt - killedAt,
          reserveAfterMs: reserveAt - killedAt,
          launchAfterMs: launchAt - killedAt,
          history: Object.fromEntries(Object.entries(history).map(([k, v]) => [k, v - killedAt])),
          endpointPointedAfterMs: pointAt - killedAt,
          workflowEndedAfterMs: wfEndedAt - killedAt,
          firstErrorAfterMs: cut - killedAt,
          firstWriteAfterMs: firstAck.at - killedAt,
          backupAfterPromotionSeenAfterMs: backupAfterPromotionAt - killedAt,
        },
        writer: {
          ackedThisEpoch: acksBefore.length,
          lostAcknowledged: lost.length,
          lostIds: lost.slice(0, 20).map((a) => a.id),
          handoverDurableGtid: handover?.durable?.gtid,
          lastAcknowledgedGtidBefore: acksBefore.at(-1)?.gtid,
          /** GTIDs are one sequence for every client: at least this many transactions (sysbench's too) were acknowledged and are gone. */
          lostTransactionsAtLeast: Math.max(0, lastSeqBefore - durableSeq),
          durableLagJustBeforeKillTransactions: durableLagAtKill,
          errorsDuringFailover: writerErrors.length,
          errorKinds: [...new Set(writerErrors.map((e) => e.message.replace(/\d+/g, 'N')))].slice(0, 8),
        },
        sysbench: { ...sbSummary, processDetail: sb.map((p) => ({ startedAfterKillMs: p.startedAt - killedAt, endedAfterKillMs: p.endedAt - killedAt, exit: p.exit, transactions: p.transactions, intervals: p.intervals.length })) },
      };
      runs.push(r);
      say(`failover ${n}: total ${sec(totalMs)} s = ${PHASE_NAMES.map((p) => `${p.replace(/Ms$/, '')} ${sec(phases[p])}`).join(', ')}`);
      say(`  restore record: ${JSON.stringify(record)}`);
      say(`  sysbench: ${sbSummary.processes} process(es), ${sbSummary.endedEarly} ended early (${sbSummary.exits.join(' | ')}); the one the kill cut: ${sbSummary.cutByKill?.exit ?? '-'} ${sbSummary.cutByKill ? `${sbSummary.cutByKill.endedAfterKillMs} ms after the kill` : ''}; writing again ${sbSummary.resumedAfterKillMs ?? '-'} ms after the kill; ${sbSummary.transactions} tx, ${sbSummary.txPerSecBeforeKill} tx/s before the kill; ignored errors ${sbSummary.ignoredErrors}, reconnects ${sbSummary.reconnects}`);
      say(`  writer: ${writerErrors.length} errors during the failover, lost ${lost.length} acknowledged rows, ≥ ${r.writer.lostTransactionsAtLeast} transactions lost in all`);
      // a quiet moment: the durable position catches up with the new primary before the next kill
      await writer.pause();
      await caughtUp().catch((err: unknown) => say(`  (durable position not caught up: ${(err as Error).message})`));
      writer.unpause();
    }

    const medians = Object.fromEntries([...PHASE_NAMES, 'totalMs' as const].map((p) => [p, median(phaseRuns.map((r) => r[p]))])) as unknown as Phases & { totalMs: number };
    const dominant = PHASE_NAMES.reduce((a, b) => (medians[b] > medians[a] ? b : a));
    const result = {
      benchmark: 'failover',
      command: `node dist/bench/failover.js ${args.join(' ')}`.trim(),
      machine: machine(),
      versions: { sysbench: await run('sysbench', ['--version']) },
      parameters: { quick: QUICK, tables: TABLES, scale: SCALE, failovers: FAILOVERS, warmSeconds: WARM_SECONDS, loadSeconds: LOAD_SECONDS, leaseMs: LEASE_MS, sysbench: sbRun.filter((a) => !a.includes('password')).join(' ') },
      database: { tableBytes, prepareSeconds, backupId: manifest.id, backupRawBytes: manifest.object.rawSizeBytes, backupStoredBytes: manifest.object.sizeBytes, backupSeconds },
      notes: [
        'No instance boot: an instance here is a process group started at once; in AWS the EC2 boot (tens of seconds) comes on top, between launch and the job starting.',
        'Phases are contiguous marks: kill → failover workflow started → compute launch → replacement job starting → (restore: base backup plan+fetch+prepare+start, replay, finish) → promoting → joining → streaming (the same condition as the workflow\'s promotion check) → endpoint pointed → first write accepted (the probe writer, first ack after its first error following the kill).',
      ],
      runs,
      medians,
      dominantPhase: dominant,
      goal: { killToFirstWriteMs: GOAL_MS, medianMs: medians.totalMs, ratio: Math.round((medians.totalMs / GOAL_MS) * 100) / 100, met: medians.totalMs <= GOAL_MS },
      context: { rdsMultiAzSeconds: '60-120 (published, not measured here)', rdsMultiAzDbClusterSeconds: '< 35 (published, not measured here)' },
      totalSeconds: sec(Date.now() - started),
    };
    const path = writeResults(QUICK ? 'failover-quick' : 'failover', result);
    say(`median kill → first write ${sec(medians.totalMs)} s (${result.goal.ratio}× the 30 s goal); dominant phase ${dominant} (${sec(medians[dominant])} s) -> ${path}`);
  } finally {
    await writer?.stop().catch(() => undefined);
    const stopped = await clusterDown(dir).catch((err: unknown) => [`down failed: ${(err as Error).message}`]);
    say(`down: ${stopped.join(', ')}`);
    if (KEEP) say(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

await main();
