/**
 * Benchmark: replaying one chunk set into fresh servers, three ways, side by side.
 *   (a) pipe:     rebuild the binlog files from the chunks, then `mariadb-binlog --disable-log-bin files | mariadb`
 *   (b) serial:   the fake primary, the server a replica with slave_parallel_threads=0 (the SQL thread applies alone)
 *   (c) parallel: the fake primary, slave_parallel_threads=<threads> (default: cores), slave_parallel_mode=optimistic
 * The chunk set: sysbench oltp_write_only (8 tables) against a private MariaDB with the agent streaming
 * to the local S3 stand-in; `prepare`'s bulk inserts are part of it. Every target server is fresh and
 * configured the same (see TARGET_ARGS); each replay is checked with CHECKSUM TABLE against the source.
 * Results: bench/results/replay.json; medians of `--reps` runs and the ratios (c)/(a), (b)/(a).
 *
 *   node dist/bench/replay.js [--quick] [--transactions N] [--reps N] [--threads N]
 */
import { localAgentConfig } from '../agent/local/catch-up.js';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildStreamer, objectStoreFor } from '../agent/cli/agent.js';
import { rebuildFiles } from '../agent/local/binlog-compare.js';
import { MariaDbServer } from '../agent/server/mariadb.js';
import { startLocalStack } from '../agent/local/stack.js';
import { createLogger, silentLogger } from '../agent/log.js';
import { sleep } from '../agent/retry.js';
import { replayViaFakePrimary } from '../agent/serve/replay.js';
import { ClusterStateRepo } from '../agent/cluster/repo.js';
import { openStateStore } from '../agent/wiring.js';
import { run } from './common.js';

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const option = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const quick = flag('--quick');
const TRANSACTIONS = option('--transactions', quick ? 20_000 : 200_000);
const REPS = option('--reps', quick ? 1 : 3);
const THREADS = option('--threads', availableParallelism());
const TABLES = 8;
const TABLE_SIZE = quick ? 2_000 : 10_000;
const CLUSTER = 'bench-replay';
const log = createLogger(process.env.SQUIRREL_LOG_LEVEL ?? 'warn', 'bench-replay');

/** Restore-time tuning, the same for every target (a restore can redo its work after a crash). */
const TARGET_ARGS = ['--innodb-buffer-pool-size=512M', '--innodb-log-file-size=512M', '--max-connections=200'];
const TARGET_OPTIONS = { serverId: 2, syncBinlog: 0, innodbFlushLogAtTrxCommit: 2 as const, extraArgs: TARGET_ARGS };

function sh(cmd: string, argv: string[]): string {
  return execFileSync(cmd, argv, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 }).trim();
}

function runPipe(script: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-o', 'pipefail', '-c', script], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`pipe exited ${code}: ${stderr.slice(-2000)}`))));
  });
}

async function checksums(server: MariaDbServer): Promise<string> {
  const names = Array.from({ length: TABLES }, (_, i) => `sbtest.sbtest${i + 1}`);
  const rows = await server.query<{ Table: string; Checksum: string | number }[]>(`CHECKSUM TABLE ${names.join(', ')}`);
  return rows.map((r) => `${r.Table}=${r.Checksum}`).join(' ');
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  const started = Date.now();
  const work = mkdtempSync(join(tmpdir(), 'sq-bench-replay-'));
  const source = await MariaDbServer.start({
    serverId: 1,
    syncBinlog: 0,
    innodbFlushLogAtTrxCommit: 2,
    extraArgs: ['--innodb-buffer-pool-size=512M', '--innodb-log-file-size=512M', '--max-connections=200'],
  });
  const stack = await startLocalStack();
  const cleanups: (() => Promise<unknown>)[] = [() => source.stop(), () => stack.stop()];
  try {
    // ---- the chunk set
    await source.query('RESET MASTER');
    const config = { ...localAgentConfig(stack, source.url, CLUSTER), agentId: 'bench' };
    const { streamer, close } = buildStreamer(config, silentLogger, 'oldest');
    const running = streamer.run();
    const sb = ['--db-driver=mysql', '--mysql-host=127.0.0.1', `--mysql-port=${source.port}`, '--mysql-user=root', `--mysql-password=${source.rootPassword}`, '--mysql-db=sbtest', `--tables=${TABLES}`, `--table-size=${TABLE_SIZE}`];
    const genStart = Date.now();
    await source.query('CREATE DATABASE sbtest');
    await run('sysbench', ['oltp_write_only', ...sb, 'prepare']);
    await run('sysbench', ['oltp_write_only', ...sb, '--threads=8', `--events=${TRANSACTIONS}`, '--time=0', '--report-interval=0', 'run']);
    const [status] = await source.query<{ File: string; Position: number }[]>('SHOW MASTER STATUS');
    const repo = new ClusterStateRepo(openStateStore(config), CLUSTER);
    for (;;) {
      const d = (await repo.read())?.durable;
      if (d && d.file === status!.File && d.end >= Number(status!.Position)) break;
      await sleep(100);
    }
    await streamer.stop();
    await running;
    await close();
    const [{ pos: target } = { pos: '' }] = await source.query<{ pos: string }[]>('SELECT @@gtid_binlog_pos AS pos');
    const sourceSums = await checksums(source);
    const objects = objectStoreFor(config);
    const stateStore = openStateStore(config);
    const state = (await repo.read())!;
    let chunks = 0;
    let chunkBytes = 0;
    for await (const o of objects.list(`${CLUSTER}/binlog/`)) {
      chunks++;
      chunkBytes += o.sizeBytes;
    }
    const transactionsInSet = Number(target.split('-')[2]);
    console.log(`chunk set: ${transactionsInSet} transactions (gtid ${target}), ${chunks} chunks, ${(chunkBytes / 1e6).toFixed(1)} MB, made in ${((Date.now() - genStart) / 1000).toFixed(1)} s`);

    // ---- the replays
    type Method = 'pipe' | 'serial' | 'parallel';
    const runs: { method: Method; rep: number; seconds: number; rebuildSeconds?: number; replaySeconds?: number }[] = [];
    const replayOnce = async (method: Method, rep: number): Promise<void> => {
      const target$ = await MariaDbServer.start(TARGET_OPTIONS);
      try {
        await target$.query('RESET MASTER'); // its own setup's GTIDs would clash with the replayed ones (gtid_strict_mode)
        const t0 = Date.now();
        let rebuildSeconds: number | undefined;
        if (method === 'pipe') {
          const dir = join(work, `files-${rep}`);
          mkdirSync(dir, { recursive: true });
          const { files, report } = await rebuildFiles(objects, stateStore, '', state);
          if (!report.ok) throw new Error(`chunks do not verify: ${JSON.stringify(report.problems)}`);
          const paths: string[] = [];
          for (const [name, file] of files) {
            if (file.offset !== 0) throw new Error(`${name} begins mid-file: mariadb-binlog cannot read it`);
            writeFileSync(join(dir, name), file.bytes);
            paths.push(join(dir, name));
          }
          rebuildSeconds = (Date.now() - t0) / 1000;
          await runPipe(`mariadb-binlog --disable-log-bin ${paths.join(' ')} | mariadb --host=127.0.0.1 --port=${target$.port} --user=root --password=${target$.rootPassword}`);
          rmSync(dir, { recursive: true, force: true });
        } else {
          await replayViaFakePrimary({
            server: target$,
            serverName: `127.0.0.1:${target$.port}`,
            primary: { objects, stateStore, prefix: '', clusterId: CLUSTER, readAheadChunks: 8 },
            target,
            parallelThreads: method === 'serial' ? 0 : THREADS,
            parallelMode: 'optimistic',
            log: silentLogger,
          });
        }
        const seconds = (Date.now() - t0) / 1000;
        const sums = await checksums(target$);
        if (sums !== sourceSums) throw new Error(`${method} replay differs from the source: ${sums} vs ${sourceSums}`);
        runs.push({ method, rep, seconds, ...(rebuildSeconds === undefined ? {} : { rebuildSeconds, replaySeconds: seconds - rebuildSeconds }) });
        console.log(`${method.padEnd(8)} rep ${rep}: ${seconds.toFixed(1)} s (${Math.round(transactionsInSet / seconds)} transactions/s)${rebuildSeconds === undefined ? '' : `, of which rebuilding the files ${rebuildSeconds.toFixed(1)} s`}`);
      } finally {
        await target$.stop();
      }
    };
    for (let rep = 1; rep <= REPS; rep++) {
      // interleaved, so that a noisy neighbour hurts every method alike
      for (const method of ['pipe', 'serial', 'parallel'] as Method[]) await replayOnce(method, rep);
    }
    const med = (m: Method) => median(runs.filter((r) => r.method === m).map((r) => r.seconds));
    const medians = { pipe: med('pipe'), serial: med('serial'), parallel: med('parallel'), pipeReplayOnly: median(runs.filter((r) => r.method === 'pipe').map((r) => r.replaySeconds!)) };
    const ratios = {
      parallelVsPipe: medians.pipe / medians.parallel,
      serialVsPipe: medians.pipe / medians.serial,
      parallelVsSerial: medians.serial / medians.parallel,
      parallelVsPipeReplayOnly: medians.pipeReplayOnly / medians.parallel,
    };
    const result = {
      benchmark: 'replay',
      command: `node dist/bench/replay.js${quick ? ' --quick' : ''}${args.filter((a) => a !== '--quick').length ? ` ${args.filter((a) => a !== '--quick').join(' ')}` : ''}`,
      at: new Date().toISOString(),
      machine: { cpus: cpus().length, cpu: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 2 ** 30) },
      versions: { node: process.version, mariadb: sh('mariadbd', ['--version']), mariadbBinlog: sh('mariadb-binlog', ['--version']), sysbench: sh('sysbench', ['--version']) },
      parameters: {
        workload: `sysbench oltp_write_only --tables=${TABLES} --table-size=${TABLE_SIZE} prepare, then run --threads=8 --events=${TRANSACTIONS}`,
        transactionsInSet,
        chunks,
        chunkBytes,
        reps: REPS,
        parallelThreads: THREADS,
        targetServer: { syncBinlog: 0, innodbFlushLogAtTrxCommit: 2, extraArgs: TARGET_ARGS },
        pipe: 'mariadb-binlog --disable-log-bin <rebuilt files> | mariadb (time includes rebuilding the files from S3)',
        fakePrimary: 'replayViaFakePrimary: START SLAVE UNTIL master_gtid_pos, slave_parallel_mode=optimistic, read-ahead 8 chunks',
      },
      runs,
      mediansSeconds: medians,
      ratios,
      totalSeconds: (Date.now() - started) / 1000,
    };
    mkdirSync(new URL('../../bench/results/', import.meta.url), { recursive: true });
    writeFileSync(new URL('../../bench/results/replay.json', import.meta.url), `${JSON.stringify(result, null, 2)}\n`);
    console.log(
      `medians: pipe ${medians.pipe.toFixed(1)} s (replay alone ${medians.pipeReplayOnly.toFixed(1)} s), fake primary serial ${medians.serial.toFixed(1)} s, parallel (${THREADS} threads) ${medians.parallel.toFixed(1)} s`,
    );
    console.log(`ratios: parallel/pipe ${ratios.parallelVsPipe.toFixed(2)}x, serial/pipe ${ratios.serialVsPipe.toFixed(2)}x, parallel/serial ${ratios.parallelVsSerial.toFixed(2)}x`);
  } finally {
    for (const c of cleanups) await c().catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  }
  log.info('done');
}

await main();
