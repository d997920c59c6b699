/**
 * bench/chunk-age: what the chunk age (`chunkMaxAgeMs`) costs and buys, to choose its default.
 *
 *   node dist/bench/chunk-age.js [--ages 100,200,500,1000] [--runs 3] [--load-seconds 20] [--idle-seconds 10] [--out chunk-age]
 *
 * For each age, the agent runs as its own process (`squirrel agent`, SQUIRREL_CHUNK_MAX_AGE_MS)
 * while sysbench `oltp_write_only` (8 tables x 10,000 rows, 8 threads) writes for `load-seconds`,
 * and one more connection commits small probe INSERTs, noting each one's GTID and acknowledgement
 * time. Reported per age, median of `runs`, the ages interleaved (each round starts one age later):
 *   - commit -> durable lag p50/p99 of the probes (bench/lag.ts);
 *   - chunk PUTs per second under the load (chunks listed in the S3 stand-in at its start and end);
 *   - S3 request dollars per month at that rate (PUT $0.005 per 1,000 requests, S3 Standard,
 *     us-east-1; a 30-day month);
 *   - chunk PUTs during `idle-seconds` with no writes once the agent has caught up (must be 0);
 *   - the load itself: sysbench transactions/s and MiB/s of binlog, since the agent also cuts a
 *     chunk at `chunkMaxBytes` (8 MiB) and a heavy enough load is cut by size, not age.
 * Results: bench/results/<out>.json.
 */
import { loadavg } from 'node:os';
import { ClusterStateRepo } from '../agent/cluster/repo.js';
import { waitCaughtUp } from '../agent/local/catch-up.js';
import { AgentProcess } from '../agent/local/agent-process.js';
import { startLocalStack, type LocalStack } from '../agent/local/stack.js';
import { sleep } from '../agent/retry.js';
import { MariaDbServer } from '../agent/server/mariadb.js';
import { openObjectStore, openStateStore } from '../agent/wiring.js';
import { machine, median, peakRssMiB, say, sysbench, writeResults } from './common.js';
import { commitLags, commitProbes, lagSummary, probeTableDdl, watchDurable } from './lag.js';

const argValue = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const AGES = (argValue('ages') ?? '100,200,500,1000').split(',').map(Number);
const RUNS = Number(argValue('runs') ?? 3);
const LOAD_SECONDS = Number(argValue('load-seconds') ?? 20);
const IDLE_SECONDS = Number(argValue('idle-seconds') ?? 10);
const OUT = argValue('out') ?? 'chunk-age';
const TABLES = 8;
const TABLE_SIZE = 10_000;
const THREADS = 8;
const PROBE_PAUSE_MS = 10;
/** S3 Standard, us-east-1: PUT, COPY, POST, LIST requests, per 1,000. */
const PUT_DOLLARS_PER_1000 = 0.005;
const SECONDS_PER_MONTH = 30 * 24 * 3600;

if (AGES.some((a) => !Number.isInteger(a) || a <= 0) || !(RUNS >= 1) || !(LOAD_SECONDS > 0) || !(IDLE_SECONDS >= 0)) {
  throw new Error(`bad arguments: --ages takes positive integers (ms) separated by commas, --runs >= 1, --load-seconds > 0, --idle-seconds >= 0. Received: ${process.argv.slice(2).join(' ')}`);
}


interface Env {
  server: MariaDbServer;
  stack: LocalStack;
}

const sbShape = { tables: TABLES, tableSize: TABLE_SIZE };

async function binlogBytes(server: MariaDbServer): Promise<number> {
  const rows = await server.query<{ File_size: number }[]>('SHOW BINARY LOGS');
  return rows.reduce((n, r) => n + Number(r.File_size), 0);
}

async function countChunks(e: Env, clusterId: string): Promise<number> {
  const store = openObjectStore({ bucket: e.stack.bucket, region: e.stack.region, s3Endpoint: e.stack.s3.endpoint });
  let n = 0;
  for await (const _ of store.list(`${clusterId}/binlog/`)) n++;
  return n;
}

/** One age, one run: load, lag, PUTs under load, then PUTs while idle. */
async function measure(e: Env, ageMs: number, round: number) {
  const clusterId = `age-${ageMs}-${round}`;
  const repo = new ClusterStateRepo(openStateStore({ table: e.stack.table, region: e.stack.region, dynamodbEndpoint: e.stack.dynamodb.endpoint }), clusterId);
  const agent = AgentProcess.start(
    { ...e.stack.env, SQUIRREL_CLUSTER_ID: clusterId, SQUIRREL_MYSQL_URL: e.server.url, SQUIRREL_LOG_LEVEL: 'warn', SQUIRREL_AGENT_ID: `bench-${clusterId}`, SQUIRREL_CHUNK_MAX_AGE_MS: String(ageMs) },
    ['--from', 'current'],
  );
  const alive = () => {
    if (agent.child.exitCode !== null) throw new Error(`agent (${clusterId}) exited: ${agent.log.slice(-2000)}`);
  };
  try {
    for (let i = 0; !(await repo.read())?.heartbeatAt; i++) {
      alive();
      if (i > 1500) throw new Error(`agent (${clusterId}) did not join within 30 s: ${agent.log.slice(-2000)}`);
      await sleep(20);
    }
    const watch = watchDurable(repo);
    const [chunksBefore, bytesBefore] = await Promise.all([countChunks(e, clusterId), binlogBytes(e.server)]);
    const t0 = Date.now();
    const [out, probes] = await Promise.all([
      sysbench(e.server, 'run', sbShape, [`--threads=${THREADS}`, `--time=${LOAD_SECONDS}`]),
      commitProbes(e.server.url, 'bench.probe', 1, LOAD_SECONDS, PROBE_PAUSE_MS),
    ]);
    const seconds = (Date.now() - t0) / 1000;
    const [chunksAfter, bytesAfter] = await Promise.all([countChunks(e, clusterId), binlogBytes(e.server)]);
    const lags = commitLags(probes, await watch.finish(probes.reduce((m, c) => Math.max(m, c.seq), 0)));
    alive();

    await waitCaughtUp(repo, e.server, { timeoutMs: 60_000, check: alive });
    await sleep(1000);
    const idleBefore = await countChunks(e, clusterId);
    await sleep(IDLE_SECONDS * 1000);
    const idlePuts = (await countChunks(e, clusterId)) - idleBefore;
    alive();

    const putsPerSecond = (chunksAfter - chunksBefore) / seconds;
    return {
      ageMs,
      round,
      seconds,
      sysbenchTps: Number(/transactions:\s+\d+\s+\(([\d.]+) per sec/.exec(out)?.[1] ?? NaN),
      binlogMiBps: (bytesAfter - bytesBefore) / 2 ** 20 / seconds,
      probes: probes.length,
      ...lagSummary(lags),
      chunkPuts: chunksAfter - chunksBefore,
      putsPerSecond,
      dollarsPerMonth: putDollarsPerMonth(putsPerSecond),
      idleSeconds: IDLE_SECONDS,
      idlePuts,
      agentPeakRssMiB: peakRssMiB(agent.child.pid!),
      loadAverage1m: loadavg()[0]!,
    };
  } finally {
    await agent.stop();
  }
}

const putDollarsPerMonth = (putsPerSecond: number) => (putsPerSecond * SECONDS_PER_MONTH * PUT_DOLLARS_PER_1000) / 1000;

async function main(): Promise<void> {
  const server = await MariaDbServer.start({ innodbSizes: { bufferPoolBytes: 256 * 2 ** 20, logFileBytes: 256 * 2 ** 20 } });
  const stack = await startLocalStack({ clusterId: 'bench' });
  for (const [k, v] of Object.entries(stack.env)) if (k.startsWith('AWS_')) process.env[k] = v;
  const e = { server, stack };
  type Run = Awaited<ReturnType<typeof measure>>;
  const runs: Run[] = [];
  try {
    await server.query('CREATE DATABASE sbtest');
    await server.query('CREATE DATABASE bench');
    await server.query(probeTableDdl('bench.probe'));
    say(`preparing sysbench oltp_write_only: ${TABLES} tables x ${TABLE_SIZE} rows`);
    await sysbench(server, 'prepare', sbShape, ['--threads=4']);
    for (let round = 0; round < RUNS; round++) {
      for (let k = 0; k < AGES.length; k++) {
        const ageMs = AGES[(k + round) % AGES.length]!;
        const r = await measure(e, ageMs, round);
        runs.push(r);
        say(
          `round ${round + 1}, age ${ageMs} ms: ${r.sysbenchTps.toFixed(0)} tx/s, ${r.binlogMiBps.toFixed(2)} MiB/s of binlog; lag p50 ${r.lagP50Ms} ms, p99 ${r.lagP99Ms} ms (${r.measured} probes); ` +
            `${r.putsPerSecond.toFixed(2)} PUTs/s ($${r.dollarsPerMonth.toFixed(2)}/month); idle PUTs ${r.idlePuts} in ${IDLE_SECONDS} s; load ${r.loadAverage1m.toFixed(2)}`,
        );
      }
    }
  } finally {
    const perAge = AGES.map((ageMs) => {
      const rs = runs.filter((r) => r.ageMs === ageMs);
      const m = (f: (r: Run) => number) => (rs.length ? median(rs.map(f)) : NaN);
      const putsPerSecond = m((r) => r.putsPerSecond);
      return {
        ageMs,
        runs: rs.length,
        sysbenchTps: m((r) => r.sysbenchTps),
        binlogMiBps: m((r) => r.binlogMiBps),
        lagP50Ms: m((r) => r.lagP50Ms),
        lagP99Ms: m((r) => r.lagP99Ms),
        putsPerSecond,
        dollarsPerMonth: putDollarsPerMonth(putsPerSecond),
        idlePutsMax: rs.length ? Math.max(...rs.map((r) => r.idlePuts)) : NaN,
      };
    });
    const path = writeResults(OUT, {
      name: 'chunk-age',
      machine: machine(),
      parameters: { ages: AGES, runs: RUNS, loadSeconds: LOAD_SECONDS, idleSeconds: IDLE_SECONDS, sysbench: { test: 'oltp_write_only', tables: TABLES, tableSize: TABLE_SIZE, threads: THREADS }, probe: { connections: 1, pauseMs: PROBE_PAUSE_MS }, chunkMaxBytes: 8 * 2 ** 20 },
      pricing: { putDollarsPer1000: PUT_DOLLARS_PER_1000, region: 'us-east-1', storageClass: 'S3 Standard', secondsPerMonth: SECONDS_PER_MONTH },
      runs,
      median: perAge,
    });
    say('');
    say('age ms | tx/s | binlog MiB/s | lag p50 ms | lag p99 ms | PUTs/s | $/month | idle PUTs');
    for (const a of perAge) {
      say(`${a.ageMs} | ${a.sysbenchTps.toFixed(0)} | ${a.binlogMiBps.toFixed(2)} | ${a.lagP50Ms} | ${a.lagP99Ms} | ${a.putsPerSecond.toFixed(2)} | ${a.dollarsPerMonth.toFixed(2)} | ${a.idlePutsMax}`);
    }
    say(`results: ${path}`);
    await stack.stop();
    await server.stop();
  }
}

await main();
