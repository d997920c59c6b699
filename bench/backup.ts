/**
 * Base backup and restore replay benchmark.
 *
 *   node dist/bench/backup.js [--table-size 20000] [--load-seconds 10] [--runs 3] [--no-replay] [--out backup] [--server-dir DIR]
 *
 * `--table-size 600000` builds a database of >= 1 GiB (8 tables x 600,000 rows, about 1.1 GiB of
 * tables), where throughput rather than the fixed start/finish cost decides the ratio; the server
 * then gets a 1 GiB buffer pool so the prepare does not crawl. `--no-replay` skips part 2.
 * `--server-dir DIR` keeps the server's datadir there and reuses it on the next run (no prepare;
 * the agent then starts at the server's current binlog position).
 * Each squirrel backup is split into phases (until the upload is complete, then until the
 * consistency point is durable and the manifest written), with the CPU seconds of this process
 * and of the S3 stand-in's process over the backup.
 *
 * 1. Backup throughput: `squirrel backup` (mariabackup -> this process -> zstd -> multipart
 *    upload to the local S3) against the bare pipe `mariabackup --backup --stream=mbstream | zstd
 *    > /dev/null`, alternated in the same run, median of `runs`, as a ratio.
 * 2. Replay rate: sysbench oltp_write_only writes while the agent streams, then `restore --target
 *    latest` replays the chunks through `mariadb-binlog - | mariadb`; transactions/s and MB/s of
 *    binlog over the replay phase, median of `runs`.
 * Results go to bench/results/<out>.json.
 */
import { localAgentConfig } from '../agent/local/catch-up.js';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { takeBaseBackup } from '../agent/backup/base-backup.js';
import { buildStreamer, objectStoreFor } from '../agent/cli/agent.js';
import { MariaDbServer } from '../agent/server/mariadb.js';
import { startLocalStack } from '../agent/local/stack.js';
import { silentLogger } from '../agent/log.js';
import { restore } from '../agent/restore/restore.js';
import { sleep } from '../agent/retry.js';
import { ClusterStateRepo } from '../agent/cluster/repo.js';
import { toolVersion } from '../agent/tools/tool-process.js';
import { openStateStore } from '../agent/wiring.js';
import { machine, median, say, sysbench, writeResults } from './common.js';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const tableSize = arg('table-size', 20_000);
const loadSeconds = arg('load-seconds', 10);
const runs = arg('runs', 3);
const replay = !process.argv.includes('--no-replay');
const outIndex = process.argv.indexOf('--out');
const out = outIndex >= 0 ? process.argv[outIndex + 1]! : 'backup';
const large = tableSize * 8 >= 1_000_000;
const serverDirIndex = process.argv.indexOf('--server-dir');
const serverDir = serverDirIndex >= 0 ? process.argv[serverDirIndex + 1]! : undefined;

/** CPU seconds a process has used (utime + stime of /proc/<pid>/stat; Linux clock ticks of 10 ms). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** A logger that notes when each message was logged (the backup's phases). */
function phaseLogger(): { log: Logger; at: Map<string, number> } {
  const at = new Map<string, number>();
  const sink = new Writable({
    write(line: Buffer, _enc, done) {
      const msg = (JSON.parse(line.toString()) as { msg?: string }).msg;
      if (msg) at.set(msg, Date.now());
      done();
    },
  });
  return { log: pino({ level: 'info' }, sink), at };
}

function sh(cmd: string, args: string[], timeoutMs = 600_000): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => (err ? reject(new Error(`${cmd}: ${err.message}\n${stderr}`)) : resolve(stdout))),
  );
}

const sbShape = { tables: 8, tableSize };

async function main(): Promise<void> {
  const reuse = serverDir !== undefined && existsSync(join(serverDir, 'data'));
  const server = await MariaDbServer.start({
    ...(large ? { innodbSizes: { bufferPoolBytes: 2 ** 30, logFileBytes: 2 ** 29 } } : {}),
    ...(serverDir ? { dir: serverDir, keep: true } : {}),
  });
  const stack = await startLocalStack();
  const config = { ...localAgentConfig(stack, server.url, 'bench-backup'), agentId: 'bench' };
  const { streamer, close } = buildStreamer(config, silentLogger, reuse ? 'current' : 'oldest');
  const running = streamer.run();
  const repo = new ClusterStateRepo(openStateStore(config), config.clusterId);
  const work = mkdtempSync(join(tmpdir(), 'sq-bench-backup-'));
  try {
    let t = Date.now();
    if (!reuse) {
      say(`preparing sysbench: 8 tables x ${tableSize} rows`);
      await server.query('CREATE DATABASE sbtest');
      await sysbench(server, 'prepare', sbShape, ['--threads=4']);
      say(`prepared in ${((Date.now() - t) / 1000).toFixed(0)} s; waiting for the agent to stream its binlog`);
    } else {
      say(`reusing the database in ${serverDir}`);
      await server.query('CREATE TABLE IF NOT EXISTS sbtest.touch (id INT PRIMARY KEY, at BIGINT)');
    }
    const waitCaughtUp = async () => {
      // an agent started at the current position has no durable position until something is
      // written after it joined: on a reused database, write a row until it has one
      while (reuse && !(await repo.read())?.durable) {
        await server.query(`REPLACE INTO sbtest.touch VALUES (1, ${Date.now()})`);
        await sleep(500);
      }
      const [st] = await server.query<{ File: string; Position: number }[]>('SHOW MASTER STATUS');
      for (;;) {
        const d = (await repo.read())?.durable;
        if (d && d.file === st!.File && d.end >= Number(st!.Position)) return;
        await sleep(100);
      }
    };
    await waitCaughtUp();
    const loadAverage = [loadavg()];
    const [{ datadir }] = (await server.query<{ datadir: string }[]>('SELECT @@datadir AS datadir')) as [{ datadir: string }];

    // 1. backup throughput, alternating baseline and squirrel
    const baseline: { ms: number }[] = [];
    const ours: { ms: number; rawBytes: number; storedBytes: number; uploadedMs: number; durableMs: number; benchCpuSeconds: number; s3StandInCpuSeconds: number }[] = [];
    const pipe = `mariabackup --backup --stream=mbstream --datadir='${datadir}' --user=root --password='${server.rootPassword}' --socket='${server.socket}' --target-dir='${join(work, 'bt')}' 2>/dev/null | zstd -q -c -3 -T0 > /dev/null`;
    for (let i = 0; i < runs; i++) {
      t = Date.now();
      await sh('bash', ['-o', 'pipefail', '-c', pipe]);
      baseline.push({ ms: Date.now() - t });
      const phases = phaseLogger();
      const cpu0 = { bench: cpuSeconds(process.pid), s3: cpuSeconds(stack.s3.pid) };
      t = Date.now();
      const m = await takeBaseBackup(
        { objects: objectStoreFor(config), state: repo, prefix: '', clusterId: config.clusterId, mysqlUrl: config.mysqlUrl, log: phases.log },
        { kind: 'physical', progress: false },
      );
      const end = Date.now();
      const uploadedAt = phases.at.get('base backup: stored; waiting for its binlog position to be durable') ?? end;
      ours.push({
        ms: end - t,
        rawBytes: m.object.rawSizeBytes,
        storedBytes: m.object.sizeBytes,
        uploadedMs: uploadedAt - t,
        durableMs: end - uploadedAt,
        benchCpuSeconds: cpuSeconds(process.pid) - cpu0.bench,
        s3StandInCpuSeconds: cpuSeconds(stack.s3.pid) - cpu0.s3,
      });
      loadAverage.push(loadavg());
      const o = ours[i]!;
      say(
        `backup run ${i + 1} (load ${loadavg()[0]!.toFixed(2)}): bare pipe ${baseline[i]!.ms} ms, squirrel backup ${o.ms} ms (${(o.rawBytes / 2 ** 20).toFixed(1)} MiB raw, ${(o.storedBytes / 2 ** 20).toFixed(1)} MiB stored; ` +
          `upload done at ${o.uploadedMs} ms, durable + manifest ${o.durableMs} ms; CPU: this process ${o.benchCpuSeconds.toFixed(1)} s, S3 stand-in ${o.s3StandInCpuSeconds.toFixed(1)} s)`,
      );
    }
    const rawBytes = median(ours.map((o) => o.rawBytes));
    const baselineMs = median(baseline.map((b) => b.ms));
    const oursMs = median(ours.map((o) => o.ms));

    // 2. replay: load with sysbench after the last backup, then restore latest
    const replays: { replayMs: number; transactions: number; chunkBytes: number; totalMs: number }[] = [];
    let tps: string | undefined;
    if (replay) {
      say(`sysbench oltp_write_only for ${loadSeconds} s, 8 threads`);
      const sb = await sysbench(server, 'run', sbShape, ['--threads=8', `--time=${loadSeconds}`]);
      tps = /transactions:\s+\d+\s+\(([\d.]+) per sec/.exec(sb)?.[1];
      await waitCaughtUp();
      for (let i = 0; i < runs; i++) {
        const datadirR = join(work, `restore-${i}`, 'data');
        const r = await restore(
          { objects: objectStoreFor(config), stateStore: openStateStore(config), prefix: '', clusterId: config.clusterId, mysqlUrl: config.mysqlUrl, log: silentLogger },
          { kind: 'latest' },
          datadirR,
          { progress: false },
        );
        replays.push({ replayMs: r.replayMs, transactions: r.transactions, chunkBytes: r.chunkBytes, totalMs: r.durationMs });
        rmSync(join(work, `restore-${i}`), { recursive: true, force: true });
        say(`replay run ${i + 1}: ${r.transactions} transactions, ${(r.chunkBytes / 2 ** 20).toFixed(1)} MiB of binlog in ${r.replayMs} ms (restore total ${r.durationMs} ms)`);
      }
    }
    const replayMs = median(replays.map((r) => r.replayMs));
    const txPerSec = median(replays.map((r) => (r.transactions * 1000) / r.replayMs));
    const mbPerSec = median(replays.map((r) => r.chunkBytes / 1e6 / (r.replayMs / 1000)));

    const results = {
      name: 'backup',
      machine: machine(),
      versions: { mariabackup: await toolVersion('mariabackup'), zstd: await toolVersion('zstd'), mariadbBinlog: await toolVersion('mariadb-binlog') },
      parameters: { tables: 8, tableSize, loadSeconds, runs, replay, zstdLevel: 3, sysbenchThreads: 8 },
      loadAverage,
      backup: {
        rawBytesMedian: rawBytes,
        baselineRunsMs: baseline.map((b) => b.ms),
        squirrelRuns: ours,
        baselineMedianMs: baselineMs,
        squirrelMedianMs: oursMs,
        baselineMBps: rawBytes / 1e6 / (baselineMs / 1000),
        squirrelMBps: rawBytes / 1e6 / (oursMs / 1000),
        ratioSquirrelToBaseline: baselineMs / oursMs,
      },
      replay: !replay ? null : { sysbenchTps: tps ? Number(tps) : null, runs: replays, replayMedianMs: replayMs, transactionsPerSec: txPerSec, binlogMBps: mbPerSec },
    };
    const path = writeResults(out, results);
    say('');
    say(`backup: ${(rawBytes / 2 ** 20).toFixed(1)} MiB raw; squirrel ${results.backup.squirrelMBps.toFixed(1)} MB/s vs bare pipe ${results.backup.baselineMBps.toFixed(1)} MB/s (ratio ${results.backup.ratioSquirrelToBaseline.toFixed(2)}, median of ${runs})`);
    if (replay) say(`replay: ${txPerSec.toFixed(0)} transactions/s, ${mbPerSec.toFixed(1)} MB/s of binlog through mariadb-binlog | mariadb (median of ${runs}; sysbench wrote ${tps ?? '?'} tx/s)`);
    say(`results: ${path}`);
  } finally {
    await streamer.stop();
    await running;
    await close();
    await stack.stop();
    await server.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
