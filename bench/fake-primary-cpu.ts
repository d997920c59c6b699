/**
 * Benchmark: what serving the binlog costs the fake primary, in CPU. On a restore the fake primary
 * and the local S3 stand-in share the machine's cores with the replica's appliers, so every
 * core-second they use is taken from the replay (issue: restore at the machine's speed).
 *   1. A chunk set: sysbench `oltp_write_only` against a private MariaDB, the agent streaming to
 *      the local S3 stand-in while the load runs (chunks cut by age and size, as in production).
 *   2. `--reps` replays of the whole set into fresh servers through the fake primary, serial applier
 *      (the replica's own CPU is not what is measured); CPU seconds of this process (the fake
 *      primary), of the S3 stand-in and of the replica during each replay, from /proc.
 * Results: bench/results/fake-primary-cpu.json (or `--out NAME`): per rep and medians, and the fake
 * primary's core-seconds per 100,000 transactions and per 100 MB sent.
 *
 *   node dist/bench/fake-primary-cpu.js [--transactions 40000] [--reps 3] [--out NAME]
 */
import { buildStreamer, objectStoreFor } from '../agent/cli/agent.js';
import { ClusterStateRepo } from '../agent/cluster/repo.js';
import { localAgentConfig } from '../agent/local/catch-up.js';
import { startLocalStack } from '../agent/local/stack.js';
import { silentLogger } from '../agent/log.js';
import { sleep } from '../agent/retry.js';
import { replayViaFakePrimary } from '../agent/serve/replay.js';
import { MariaDbServer } from '../agent/server/mariadb.js';
import { openStateStore } from '../agent/wiring.js';
import { cpuSecondsOf, machine, median, say, sysbench, writeResults } from './common.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const TRANSACTIONS = option('--transactions', 40_000);
const REPS = option('--reps', 3);
const SHAPE = { tables: 8, tableSize: 10_000 };
const CLUSTER = 'bench-fake-primary-cpu';
const SERVER = { syncBinlog: 0, innodbFlushLogAtTrxCommit: 2 as const, extraArgs: ['--innodb-buffer-pool-size=512M', '--innodb-log-file-size=512M', '--max-connections=200'] };

const round2 = (n: number) => Math.round(n * 100) / 100;

async function main(): Promise<void> {
  const started = Date.now();
  const source = await MariaDbServer.start({ serverId: 1, ...SERVER });
  const stack = await startLocalStack();
  try {
    await source.query('RESET MASTER');
    const config = { ...localAgentConfig(stack, source.url, CLUSTER), agentId: 'bench' };
    const { streamer, close } = buildStreamer(config, silentLogger, 'oldest');
    const running = streamer.run();
    await source.query('CREATE DATABASE sbtest');
    await sysbench(source, 'prepare', SHAPE);
    await sysbench(source, 'run', SHAPE, ['--threads=8', `--events=${TRANSACTIONS}`, '--time=0', '--report-interval=0']);
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
    const transactions = Number(target.split('-')[2]);
    const objects = objectStoreFor(config);
    let chunks = 0;
    let chunkBytes = 0;
    for await (const o of objects.list(`${CLUSTER}/binlog/`)) {
      chunks++;
      chunkBytes += o.sizeBytes;
    }
    say(`chunk set: ${transactions} transactions, ${chunks} chunks, ${(chunkBytes / 1e6).toFixed(1)} MB`);

    const runs: { rep: number; seconds: number; fakePrimaryCpuSeconds: number; s3CpuSeconds: number; replicaCpuSeconds: number }[] = [];
    for (let rep = 1; rep <= REPS; rep++) {
      const replica = await MariaDbServer.start({ serverId: 2, ...SERVER });
      try {
        await replica.query('RESET MASTER');
        const own0 = process.cpuUsage();
        const s30 = cpuSecondsOf(stack.s3.pid!);
        const replica0 = cpuSecondsOf(replica.pid!);
        const t0 = Date.now();
        await replayViaFakePrimary({
          server: replica,
          serverName: `replica ${rep}`,
          primary: { objects, stateStore: openStateStore(config), prefix: '', clusterId: CLUSTER },
          target,
          parallelThreads: 0,
          log: silentLogger,
        });
        const own = process.cpuUsage(own0);
        const r = {
          rep,
          seconds: round2((Date.now() - t0) / 1000),
          fakePrimaryCpuSeconds: round2((own.user + own.system) / 1e6),
          s3CpuSeconds: round2(cpuSecondsOf(stack.s3.pid!) - s30),
          replicaCpuSeconds: round2(cpuSecondsOf(replica.pid!) - replica0),
        };
        runs.push(r);
        say(`rep ${rep}: ${r.seconds} s; CPU s: fake primary ${r.fakePrimaryCpuSeconds}, S3 stand-in ${r.s3CpuSeconds}, replica ${r.replicaCpuSeconds}`);
      } finally {
        await replica.stop();
      }
    }
    const med = (f: (r: (typeof runs)[number]) => number) => round2(median(runs.map(f)));
    const medians = { seconds: med((r) => r.seconds), fakePrimaryCpuSeconds: med((r) => r.fakePrimaryCpuSeconds), s3CpuSeconds: med((r) => r.s3CpuSeconds), replicaCpuSeconds: med((r) => r.replicaCpuSeconds) };
    const per = {
      fakePrimaryCoreSecondsPer100kTx: round2((medians.fakePrimaryCpuSeconds * 100_000) / transactions),
      fakePrimaryCoreSecondsPer100MB: round2((medians.fakePrimaryCpuSeconds * 1e8) / chunkBytes),
      s3CoreSecondsPer100MB: round2((medians.s3CpuSeconds * 1e8) / chunkBytes),
    };
    const path = writeResults(args.includes('--out') ? args[args.indexOf('--out') + 1]! : 'fake-primary-cpu', {
      benchmark: 'fake-primary-cpu',
      command: `node dist/bench/fake-primary-cpu.js ${args.join(' ')}`.trim(),
      machine: machine(),
      parameters: { transactions, chunks, chunkBytes, reps: REPS, workload: `sysbench oltp_write_only ${SHAPE.tables} tables x ${SHAPE.tableSize} rows, 8 threads`, replica: 'serial applier (slave_parallel_threads=0)' },
      runs,
      medians,
      per,
      totalSeconds: round2((Date.now() - started) / 1000),
    });
    say(`medians: ${JSON.stringify(medians)}; ${JSON.stringify(per)} -> ${path}`);
  } finally {
    await stack.stop().catch(() => undefined);
    await source.stop().catch(() => undefined);
  }
}

await main();
