/**
 * Benchmark: restore at scale, phase by phase, against a real replica in the same run.
 *   1. A primary (durable settings) with the agent streaming to the local S3 stand-in; sysbench
 *      `oltp_write_only` prepare of `--tables` × `--scale` rows; a physical base backup.
 *   2. `--load-seconds` of sysbench load (`--load-threads`, 8), or as long as `--tail-transactions` take: the tail,
 *      written at the primary's rate.
 *   3. baseline: the base backup unpacked into a server with the restore's own sizing and settings
 *      (replay-server.ts), made a replica of the *real* primary, applying the same tail.
 *   4. `restore --target latest` (agent/restore/restore.ts), phase by phase; interleaved with 3 per rep,
 *      and the primary killed (kill -9) before the last restore.
 *   5. before: the same tail through the fake primary into a server with the old, test-harness
 *      sizing (16 MiB pool, 8 MiB redo log, as many applier threads as cores), stopped after
 *      `--before-max-seconds` (its rate is what counts).
 *   6. `--sweep 2,8,16` (run before 4 and 5): the after settings with other applier thread counts (the measurement
 *      behind replayParallelism in server-sizing.ts).
 * Every replay is checked with CHECKSUM TABLE against the primary. Each restore's predicted time
 * (rto.ts) is set against its real one: rep 1 predicts with the default rates, rep 2 on with the
 * record rep 1 left (restore-history.ts). Results: bench/results/restore-scale.json.
 *
 *   node dist/bench/restore-scale.js [--scale 400000] [--tables 8] [--load-seconds 60 | --tail-transactions 200000] [--load-threads 8]
 *     [--reps 1] [--before-max-seconds 180] [--sweep 2,8,16] [--fake-primary-log FILE] [--out NAME]
 */
import { execFileSync } from 'node:child_process';
import { pino } from 'pino';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { takeBaseBackup } from '../agent/backup/base-backup.js';
import { buildStreamer, objectStoreFor } from '../agent/cli/agent.js';
import { localAgentConfig } from '../agent/local/catch-up.js';
import { MariaDbServer } from '../agent/server/mariadb.js';
import { startLocalStack } from '../agent/local/stack.js';
import { silentLogger } from '../agent/log.js';
import { unpackPhysical } from '../agent/restore/base-fetch.js';
import { startReplayServer } from '../agent/restore/replay-server.js';
import { gtidDistance, restore, serverDirFor, type RestoreResult } from '../agent/restore/restore.js';
import { sizeReplayServer, type ServerSizing } from '../agent/restore/server-sizing.js';
import { sleep } from '../agent/retry.js';
import { replayViaFakePrimary } from '../agent/serve/replay.js';
import { ClusterStateRepo } from '../agent/cluster/repo.js';
import { openStateStore } from '../agent/wiring.js';
import { cpuBetween, cpuByProcess, cpuSecondsOf, machine, median, run, say, writeResults } from './common.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const SCALE = option('--scale', 400_000);
const TABLES = option('--tables', 8);
const LOAD_SECONDS = option('--load-seconds', 60);
/** `--tail-transactions N`: load until the tail holds N transactions (sysbench --events), however long that takes; instead of --load-seconds. */
const TAIL_TRANSACTIONS = option('--tail-transactions', 0);
const LOAD_THREADS = option('--load-threads', 8);
const REPS = option('--reps', 1);
const BEFORE_MAX_SECONDS = option('--before-max-seconds', 180);
const sweepAt = args.indexOf('--sweep');
const SWEEP = sweepAt >= 0 ? args[sweepAt + 1]!.split(',').map(Number) : [];
const CLUSTER = 'bench-restore-scale';
/** `--fake-primary-log FILE`: the fake primary's debug log of the bench's own replicas (times of the handshake, dump and its end). */
const FAKE_PRIMARY_LOG = args.includes('--fake-primary-log') ? args[args.indexOf('--fake-primary-log') + 1]! : undefined;
const fakePrimaryLog = FAKE_PRIMARY_LOG ? pino({ level: 'debug' }, pino.destination({ dest: FAKE_PRIMARY_LOG, sync: true })) : silentLogger;

const ownCpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

const sh = (cmd: string, argv: string[]) => execFileSync(cmd, argv, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 }).trim();
const sec = (ms: number) => Math.round(ms / 100) / 10;

async function checksums(server: { query: MariaDbServer['query'] }): Promise<string> {
  const names = Array.from({ length: TABLES }, (_, i) => `sbtest.sbtest${i + 1}`);
  const rows = await server.query<{ Table: string; Checksum: string | number }[]>(`CHECKSUM TABLE ${names.join(', ')}`);
  return rows.map((r) => `${r.Table}=${r.Checksum}`).join(' ');
}

async function main(): Promise<void> {
  const started = Date.now();
  const work = mkdtempSync(join(tmpdir(), 'sq-bench-restore-scale-'));
  // the primary as production runs it: durable, sized for a 2 GB working set
  const primary = await MariaDbServer.start({ serverId: 1, syncBinlog: 1, innodbFlushLogAtTrxCommit: 1, innodbSizes: { bufferPoolBytes: 2 ** 31, logFileBytes: 2 ** 29 }, extraArgs: ['--max-connections=200'] });
  const stack = await startLocalStack();
  const cleanups: (() => Promise<unknown>)[] = [() => primary.stop(), () => stack.stop()];
  try {
    await primary.query('RESET MASTER');
    const config = { ...localAgentConfig(stack, primary.url, CLUSTER), agentId: 'bench' };
    const { streamer, close } = buildStreamer(config, silentLogger, 'oldest');
    const running = streamer.run();
    const repo = new ClusterStateRepo(openStateStore(config), CLUSTER);
    const caughtUp = async () => {
      const [status] = await primary.query<{ File: string; Position: number }[]>('SHOW MASTER STATUS');
      for (;;) {
        const d = (await repo.read())?.durable;
        if (d && d.file === status!.File && d.end >= Number(status!.Position)) return;
        await sleep(200);
      }
    };
    const sb = ['--db-driver=mysql', '--mysql-host=127.0.0.1', `--mysql-port=${primary.port}`, '--mysql-user=root', `--mysql-password=${primary.rootPassword}`, '--mysql-db=sbtest', `--tables=${TABLES}`, `--table-size=${SCALE}`];

    // ---- 1. the database and its base backup
    let t0 = Date.now();
    await primary.query('CREATE DATABASE sbtest');
    await run('sysbench', ['oltp_write_only', ...sb, '--threads=2', 'prepare']);
    const prepareSeconds = sec(Date.now() - t0);
    await caughtUp();
    const [{ datadirBytes } = { datadirBytes: 0 }] = await primary.query<{ datadirBytes: number }[]>(
      "SELECT SUM(data_length + index_length) AS datadirBytes FROM information_schema.tables WHERE table_schema = 'sbtest'",
    );
    say(`database: ${TABLES} × ${SCALE} rows, ${(Number(datadirBytes) / 2 ** 30).toFixed(2)} GiB of tables, prepared in ${prepareSeconds} s`);
    t0 = Date.now();
    const manifest = await takeBaseBackup({ objects: objectStoreFor(config), state: repo, prefix: '', clusterId: CLUSTER, mysqlUrl: primary.url, log: silentLogger }, { kind: 'physical', progress: false, durableTimeoutMs: 120_000 });
    const backupSeconds = sec(Date.now() - t0);
    say(`base backup: ${(manifest.object.rawSizeBytes / 2 ** 20).toFixed(0)} MiB raw, ${(manifest.object.sizeBytes / 2 ** 20).toFixed(0)} MiB stored, ${backupSeconds} s`);

    // ---- 2. the tail
    t0 = Date.now();
    const length = TAIL_TRANSACTIONS > 0 ? ['--time=0', `--events=${TAIL_TRANSACTIONS}`] : [`--time=${LOAD_SECONDS}`];
    const loadOut = await run('sysbench', ['oltp_write_only', ...sb, `--threads=${LOAD_THREADS}`, ...length, '--report-interval=0', 'run']);
    const loadSeconds = sec(Date.now() - t0);
    const written = /transactions:\s+(\d+)\s+\(([\d.]+) per sec/.exec(loadOut);
    const primaryTxPerSec = Number(written?.[2] ?? NaN);
    await caughtUp();
    const [tailEnd] = (await primary.query<{ File: string; Position: number }[]>('SHOW MASTER STATUS')) as [{ File: string; Position: number }];
    await streamer.stop();
    await running;
    await close();
    const [{ pos: target } = { pos: '' }] = await primary.query<{ pos: string }[]>('SELECT @@gtid_binlog_pos AS pos');
    const tailTransactions = gtidDistance(manifest.binlog.gtid, target);
    const primarySums = await checksums(primary);
    const objects = objectStoreFor(config);
    const stateStore = openStateStore(config);
    const restoreDeps = { objects, stateStore, prefix: '', clusterId: CLUSTER, mysqlUrl: primary.url, log: FAKE_PRIMARY_LOG ? fakePrimaryLog.child({ variant: 'restore' }) : silentLogger };
    // the restore's own plan: the chunk bytes its sizing rule sees
    const tailBytes = (await restore(restoreDeps, { kind: 'latest' }, join(work, 'dry'), { dryRun: true, progress: false })).plan.bytes.chunks;
    say(`tail: ${tailTransactions} transactions written at ${primaryTxPerSec} tx/s in ${loadSeconds} s (${LOAD_THREADS} threads); ${(tailBytes / 2 ** 20).toFixed(0)} MiB of chunks to replay`);

    const sizing = sizeReplayServer({ memoryBytes: totalmem(), dataBytes: manifest.object.rawSizeBytes, binlogBytes: tailBytes, cores: availableParallelism() });
    say(`rule: ${sizing.reason}`);

    /** The backup unpacked and prepared into a new datadir. */
    let n = 0;
    const unpack = async (useMemoryBytes: number) => {
      const dir = join(work, `r${++n}`);
      mkdirSync(join(dir, 'data'), { recursive: true });
      const times = await unpackPhysical(objects, manifest, join(dir, 'data'), undefined, useMemoryBytes);
      return { dir, datadir: join(dir, 'data'), times };
    };
    /**
     * CPU used during a run by this process (the fake primary, or the restore around it) and by
     * the local S3 stand-in (s3rver, a child process): what the appliers did not get of the cores.
     */
    const cpu = () => {
      const at = { own: ownCpuSeconds(), s3: cpuSecondsOf(stack.s3.pid) };
      return () => ({ ownCpuSeconds: Math.round((ownCpuSeconds() - at.own) * 10) / 10, s3rverCpuSeconds: Math.round((cpuSecondsOf(stack.s3.pid) - at.s3) * 10) / 10 });
    };
    type Run = {
      variant: string;
      rep: number;
      replaySeconds: number;
      transactions: number;
      txPerSec: number;
      complete: boolean;
      phases?: RestoreResult['phases'];
      threads: number;
      cpu?: { ownCpuSeconds: number; s3rverCpuSeconds: number };
      /** When the first transaction was applied and the whole tail received (ms from the replay's start), and [ms, applied] every second. */
      flow?: {
        firstAppliedMs: number | undefined;
        receivedMs?: number | undefined;
        replayCpuSeconds?: number;
        serverCpuSeconds: number;
        /** The machine's CPU-seconds during the replay, and the processes that used most of them. */
        machineCpu?: { totalSeconds: number; top: string[] };
        trace: [number, number][];
      };
      /** A restore's predicted time (rto.ts, with the rates it had: the defaults, or the previous rep's record) against its real one. */
      prediction?: { predictedSeconds: number; actualSeconds: number; ratio: number; rates: string };
    };
    const runs: Run[] = [];
    const record = (r: Run) => {
      runs.push(r);
      say(`${r.variant.padEnd(10)} rep ${r.rep}: ${r.transactions} tx in ${r.replaySeconds} s = ${r.txPerSec} tx/s${r.complete ? '' : ' (stopped early)'}${r.cpu ? ` cpu ${JSON.stringify(r.cpu)}` : ''}${r.flow ? ` first applied at ${r.flow.firstAppliedMs} ms${r.flow.receivedMs !== undefined ? `, all received at ${r.flow.receivedMs} ms` : ''}${r.flow.replayCpuSeconds !== undefined ? `, ${r.flow.replayCpuSeconds} CPU-s of this process while replaying` : ''}, ${r.flow.serverCpuSeconds} CPU-s of the replaying server${r.flow.machineCpu ? `; machine ${r.flow.machineCpu.totalSeconds} CPU-s: ${r.flow.machineCpu.top.join(', ')}` : ''}` : ''}${r.phases ? ` phases ${JSON.stringify(r.phases)}` : ''}${r.prediction ? ` predicted ${r.prediction.predictedSeconds} s, took ${r.prediction.actualSeconds} s (${r.prediction.rates})` : ''}`);
    };

    /**
     * Samples a replaying server every 250 ms: when its first transaction was applied, when its
     * I/O thread had received the whole tail (its relay log then holds everything), and the applied
     * count over time. Shows whether the appliers ever waited for the source (the relay log ran dry)
     * or were the bottleneck throughout.
     */
    const watchReplay = (server: MariaDbServer) => {
      const t0 = Date.now();
      const trace: [number, number][] = [];
      let firstAppliedMs: number | undefined;
      let receivedMs: number | undefined;
      let stopped = false;
      const loop = (async () => {
        while (!stopped) {
          const [pos] = await server.query<{ pos: string }[]>('SELECT @@gtid_slave_pos AS pos').catch(() => [{ pos: '' }]);
          const [st] = await server.query<Record<string, unknown>[]>('SHOW SLAVE STATUS').catch(() => [] as Record<string, unknown>[]);
          const ms = Date.now() - t0;
          const applied = pos?.pos ? gtidDistance(manifest.binlog.gtid, pos.pos) : 0;
          if (applied > 0 && firstAppliedMs === undefined) firstAppliedMs = ms;
          if (receivedMs === undefined && st && st.Master_Log_File === tailEnd.File && Number(st.Read_Master_Log_Pos) >= Number(tailEnd.Position)) receivedMs = ms;
          trace.push([ms, applied]);
          await sleep(250);
        }
      })();
      return async () => {
        stopped = true;
        await loop;
        return { firstAppliedMs, receivedMs, trace: trace.filter((_, i) => i % 4 === 0) };
      };
    };

    /** SHOW GLOBAL VARIABLES of each variant's first server: the replay servers must differ only in what makes them separate servers. */
    const variables = new Map<string, Map<string, string>>();
    const globalVariables = async (server: MariaDbServer) =>
      new Map((await server.query<{ Variable_name: string; Value: string }[]>('SHOW GLOBAL VARIABLES')).map((r) => [r.Variable_name, String(r.Value)]));
    /** The variables whose values differ between two servers, but for paths, ports and ids. */
    const variableDiff = (a: Map<string, string>, b: Map<string, string>) =>
      [...a].filter(([k, v]) => b.get(k) !== v && !/dir|path|file|socket|port|server_id|uuid|hostname|pid|timestamp|gtid|^log_error|basename|_index$/.test(k)).map(([k, v]) => `${k}: ${v} / ${b.get(k)}`);

    /** A replica with the given settings, from the backup, applying the tail from `source`. */
    const replica = async (variant: string, rep: number, s: ServerSizing, source: 'primary' | 'fake', old = false, timeoutMs?: number) => {
      const { dir, datadir } = await unpack(old ? 100 * 2 ** 20 : s.bufferPoolBytes);
      const server = old
        ? await MariaDbServer.start({ dir, keep: true, serverId: 2, syncBinlog: 0, innodbFlushLogAtTrxCommit: 2, rootPassword: primary.rootPassword })
        : await startReplayServer({ datadir, serverDir: join(dir, 'srv'), serverId: 2, sizing: s, rootPassword: primary.rootPassword });
      try {
        const t = Date.now();
        const used = cpu();
        if (!variables.has(variant)) variables.set(variant, await globalVariables(server));
        const watched = watchReplay(server);
        const serverCpu0 = cpuSecondsOf(server.pid!);
        const machineAtStart = cpuByProcess();
        let applied = '';
        let complete = true;
        try {
          await replayViaFakePrimary({
            server,
            serverName: variant,
            primary:
              source === 'primary'
                ? { host: primary.host, port: primary.port, serverId: 1, user: 'root', password: primary.rootPassword }
                : { objects, stateStore, prefix: '', clusterId: CLUSTER },
            target,
            startGtid: manifest.binlog.gtid,
            parallelThreads: s.parallelThreads,
            ...(old ? {} : { domainParallelThreads: s.domainParallelThreads }),
            log: source === 'fake' ? fakePrimaryLog.child({ variant, rep }) : silentLogger,
            onProgress: (p) => (applied = p),
            ...(timeoutMs ? { timeoutMs } : {}),
          });
        } catch (err) {
          if (!timeoutMs || !/not reached after/.test(String(err))) throw err;
          complete = false;
        }
        const ms = Date.now() - t;
        const machineCpu = cpuBetween(machineAtStart, cpuByProcess());
        const flow = { ...(await watched()), serverCpuSeconds: Math.round((cpuSecondsOf(server.pid!) - serverCpu0) * 10) / 10, machineCpu };
        const cpuUsed = used();
        const transactions = complete ? tailTransactions : gtidDistance(manifest.binlog.gtid, applied);
        if (complete && (await checksums(server)) !== primarySums) throw new Error(`${variant}: tables differ from the primary`);
        record({ variant, rep, replaySeconds: sec(ms), transactions, txPerSec: Math.round((transactions * 1000) / ms), complete, threads: s.parallelThreads, cpu: cpuUsed, flow });
      } finally {
        await server.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    };

    const restoreLatest = async (rep: number) => {
      const datadir = join(work, `restore-${rep}`, 'data');
      const used = cpu();
      // the replay's flow, as the replica runs record it: from the first poll after START SLAVE
      const polls: [number, number, number, number][] = [];
      let replayPid: number | undefined;
      let machineAtStart: ReturnType<typeof cpuByProcess> | undefined;
      let machineLately: ReturnType<typeof cpuByProcess> | undefined;
      const onReplayProgress = (applied: number) => {
        replayPid ??= Number(readFileSync(join(serverDirFor(datadir), 'mariadbd.pid'), 'utf8'));
        polls.push([Date.now(), applied, ownCpuSeconds(), cpuSecondsOf(replayPid)]);
        // the machine's CPU by process, at the replay's start and about every second after
        if (polls.length === 1) machineAtStart = cpuByProcess();
        else if (polls.length % 5 === 0) machineLately = cpuByProcess();
      };
      const result = await restore(restoreDeps, { kind: 'latest' }, datadir, { progress: false, start: true, onReplayProgress });
      try {
        if ((await checksums(result.server!)) !== primarySums) throw new Error('restore: tables differ from the primary');
      } finally {
        await result.server!.stop();
        rmSync(join(work, `restore-${rep}`), { recursive: true, force: true });
      }
      const p = result.phases;
      // the whole restore's CPU (fetch and prepare included): an upper bound for the replay's
      const cpuUsed = used();
      // the handed-over server's start is not part of a restore the prediction times
      const actualSeconds = sec(result.durationMs);
      const prediction = { predictedSeconds: sec(result.prediction.seconds * 1000), actualSeconds, ratio: Number((result.prediction.seconds / actualSeconds).toFixed(2)), rates: result.prediction.rates.source };
      const [t0, , cpu0, serverCpu0] = polls[0] ?? [0, 0, 0, 0];
      const firstApplied = polls.find(([, a]) => a > 0);
      const flow = {
        firstAppliedMs: firstApplied ? firstApplied[0] - t0 : undefined,
        replayCpuSeconds: Math.round(((polls.at(-1)?.[2] ?? cpu0) - cpu0) * 10) / 10,
        serverCpuSeconds: Math.round(((polls.at(-1)?.[3] ?? serverCpu0) - serverCpu0) * 10) / 10,
        ...(machineAtStart && machineLately ? { machineCpu: cpuBetween(machineAtStart, machineLately) } : {}),
        trace: polls.filter((_, i) => i % 5 === 0).map(([t, a]) => [t - t0, a] as [number, number]),
      };
      record({ variant: 'restore', rep, replaySeconds: sec(p.replayMs), transactions: p.replayTransactions, txPerSec: p.replayTxPerSec, complete: true, phases: p, threads: sizing.parallelThreads, cpu: cpuUsed, flow, prediction });
      return result;
    };

    // ---- 6. applier threads (first: the fake primary's first run is not then the restore's)
    for (const threads of SWEEP) await replica(`threads-${threads}`, 1, { ...sizing, parallelThreads: threads }, 'fake');
    // ---- 3. baseline (the real primary up) and 4. restore, interleaved per rep so that both see
    // the same noise of this shared machine; the primary is killed (kill -9) before the last restore.
    // An idle primary takes no CPU from a restore that runs before its kill.
    let lastRestore: RestoreResult | undefined;
    for (let rep = 1; rep <= REPS; rep++) {
      await replica('baseline', rep, sizing, 'primary');
      if (rep === REPS) await primary.kill9();
      lastRestore = await restoreLatest(rep);
    }
    // ---- 5. before: the test-harness sizing, as restore ran before this change
    const old = { ...sizing, parallelThreads: availableParallelism(), bufferPoolBytes: 16 * 2 ** 20, logFileBytes: 8 * 2 ** 20 };
    await replica('before', 1, old, 'fake', true, BEFORE_MAX_SECONDS * 1000);

    const baseVars = variables.get('baseline');
    const differences = Object.fromEntries([...variables].filter(([v]) => v !== 'baseline' && baseVars).map(([v, vars]) => [v, variableDiff(baseVars!, vars)]));
    for (const [v, d] of Object.entries(differences)) say(`variables of ${v} that differ from the baseline's: ${d.length ? d.join('; ') : 'none'}`);
    const med = (variant: string, f: (r: Run) => number) => median(runs.filter((r) => r.variant === variant).map(f));
    const replayTxPerSec = med('restore', (r) => r.txPerSec);
    const baselineTxPerSec = med('baseline', (r) => r.txPerSec);
    const beforeTxPerSec = med('before', (r) => r.txPerSec);
    const ratios = {
      restoreVsBaseline: replayTxPerSec / baselineTxPerSec,
      restoreVsPrimaryWrite: replayTxPerSec / primaryTxPerSec,
      restoreVsBefore: replayTxPerSec / beforeTxPerSec,
    };
    const result = {
      benchmark: 'restore-scale',
      command: `node dist/bench/restore-scale.js ${args.join(' ')}`.trim(),
      machine: machine(),
      versions: { sysbench: sh('sysbench', ['--version']) },
      parameters: { tables: TABLES, scale: SCALE, loadSeconds: LOAD_SECONDS, tailTransactions: TAIL_TRANSACTIONS, loadThreads: LOAD_THREADS, reps: REPS, beforeMaxSeconds: BEFORE_MAX_SECONDS, sweep: SWEEP },
      database: { tableBytes: Number(datadirBytes), prepareSeconds, backupRawBytes: manifest.object.rawSizeBytes, backupStoredBytes: manifest.object.sizeBytes, backupSeconds },
      tail: { transactions: tailTransactions, primaryTxPerSec, loadSeconds, chunkBytes: tailBytes },
      rule: sizing,
      before: { bufferPoolBytes: old.bufferPoolBytes, logFileBytes: old.logFileBytes, parallelThreads: old.parallelThreads, syncBinlog: 0, innodbFlushLogAtTrxCommit: 2, doublewrite: 1 },
      runs,
      variableDifferences: differences,
      medians: { replayTxPerSec, baselineTxPerSec, beforeTxPerSec, restorePhases: lastRestore?.phases },
      predictions: runs.filter((r) => r.prediction).map((r) => ({ rep: r.rep, ...r.prediction! })),
      ratios,
      goals: { replayAtLeast095xBaseline: ratios.restoreVsBaseline >= 0.95, replayAtLeast3xPrimary: ratios.restoreVsPrimaryWrite >= 3 },
      totalSeconds: sec(Date.now() - started),
    };
    const path = writeResults(args.includes('--out') ? args[args.indexOf('--out') + 1]! : 'restore-scale', result);
    say(`ratios: restore/baseline ${ratios.restoreVsBaseline.toFixed(2)}x, restore/primary-write ${ratios.restoreVsPrimaryWrite.toFixed(2)}x, restore/before ${ratios.restoreVsBefore.toFixed(2)}x -> ${path}`);
  } finally {
    for (const c of cleanups) await c().catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
