/**
 * bench/chunk-encoding: chunks stored as they are (`chunkEncoding=none`) against zstd, on sysbench
 * binlogs, in the same run, alternating:
 *   1. lag under load: sysbench oltp_write_only (8 threads) while a probe commits single rows
 *      and times each commit until the durable position covers it; PUTs per second, bytes stored
 *      per binlog byte, the agent's CPU seconds;
 *   2. catch-up: the agent streams a sysbench backlog written while no agent ran, to the S3
 *      stand-in; seconds, MiB/s of binlog, bytes stored, CPU seconds.
 * Usage: node dist/bench/chunk-encoding.js [--quick]. Results: bench/results/chunk-encoding.json.
 */
import { defaults } from '../agent/config.js';
import { readFileSync } from 'node:fs';
import mysql from 'mysql2/promise';
import { serverEnd, waitCaughtUp } from '../agent/local/catch-up.js';
import { AgentProcess } from '../agent/local/agent-process.js';
import { startLocalStack, type LocalStack } from '../agent/local/stack.js';
import { MariaDbServer } from '../agent/server/mariadb.js';
import { ClusterStateRepo } from '../agent/cluster/repo.js';
import { parseChunkKey } from '../agent/keys.js';
import { sleep } from '../agent/retry.js';
import { openObjectStore, openStateStore } from '../agent/wiring.js';
import { machine, median, percentile, say, sysbench, writeResults } from './common.js';

const quick = process.argv.includes('--quick');
const RUNS = quick ? 1 : 3;
const TABLE_SIZE = quick ? 10_000 : 100_000;
const LOAD_SECONDS = quick ? 8 : 20;
const BACKLOG_SECONDS = quick ? 10 : 45;
const ENCODINGS = ['none', 'zstd'] as const;
type Encoding = (typeof ENCODINGS)[number];


interface Env {
  server: MariaDbServer;
  stack: LocalStack;
}

const sbShape = { tables: 4, tableSize: TABLE_SIZE };

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100/s)
}

function repoFor(e: Env, clusterId: string): ClusterStateRepo {
  return new ClusterStateRepo(openStateStore({ table: e.stack.table, region: e.stack.region, dynamodbEndpoint: e.stack.dynamodb.endpoint }), clusterId);
}

function startAgent(e: Env, clusterId: string, encoding: Encoding, from: 'current' | 'oldest'): AgentProcess {
  return AgentProcess.start(
    { ...e.stack.env, SQUIRREL_CLUSTER_ID: clusterId, SQUIRREL_MYSQL_URL: e.server.url, SQUIRREL_LOG_LEVEL: 'warn', SQUIRREL_AGENT_ID: `bench-${clusterId}`, SQUIRREL_CHUNK_ENCODING: encoding },
    ['--from', from],
  );
}

/** The chunks of a cluster: how many, their binlog bytes, and the bytes stored for them. */
async function stored(e: Env, clusterId: string): Promise<{ chunks: number; binlogBytes: number; storedBytes: number }> {
  const store = openObjectStore({ bucket: e.stack.bucket, region: e.stack.region, s3Endpoint: e.stack.s3.endpoint });
  const r = { chunks: 0, binlogBytes: 0, storedBytes: 0 };
  for await (const o of store.list(`${clusterId}/binlog/`)) {
    const ref = parseChunkKey(o.key);
    if (!ref) continue;
    r.chunks++;
    r.binlogBytes += ref.end - ref.start;
    r.storedBytes += o.sizeBytes;
  }
  return r;
}

/** 1. sysbench load plus a probe that times each of its commits until durable. */
async function lagRun(e: Env, clusterId: string, encoding: Encoding) {
  await e.server.query('CREATE TABLE IF NOT EXISTS bench.probe (id BIGINT PRIMARY KEY AUTO_INCREMENT, at BIGINT)');
  const repo = repoFor(e, clusterId);
  const agent = startAgent(e, clusterId, encoding, 'current');
  try {
    for (let i = 0; !(await repo.read())?.heartbeatAt && i < 500; i++) await sleep(20);
    const cpu0 = cpuSeconds(agent.child.pid!);
    const t0 = Date.now();
    const load = sysbench(e.server, 'run', sbShape, ['--threads=8', `--time=${LOAD_SECONDS}`]);
    const commits: { at: number; seq: number }[] = [];
    // the durable position's moves, with the time the agent wrote each (its `at`)
    const durable: { at: number; seq: number }[] = [];
    let loading = true;
    const poller = (async () => {
      while (loading || (durable.at(-1)?.seq ?? -1) < (commits.at(-1)?.seq ?? 0)) {
        const d = (await repo.read())?.durable;
        const seq = d?.gtid ? Number(/(?:^|,)0-\d+-(\d+)/.exec(d.gtid)?.[1] ?? -1) : -1;
        if (d && seq > (durable.at(-1)?.seq ?? -1)) durable.push({ at: Date.parse(d.at), seq });
        await sleep(10);
      }
    })();
    const conn = await mysql.createConnection({ uri: e.server.url, multipleStatements: true });
    try {
      while (Date.now() - t0 < LOAD_SECONDS * 1000) {
        const [results] = await conn.query('INSERT INTO bench.probe (at) VALUES (1); SELECT @@last_gtid AS g');
        commits.push({ at: Date.now(), seq: Number(((results as unknown[])[1] as { g: string }[])[0]!.g.split('-')[2]) });
        await sleep(20);
      }
    } finally {
      await conn.end();
    }
    const sb = await load;
    loading = false;
    await Promise.race([poller, sleep(60_000)]);
    const tps = Number(/transactions:\s+\d+\s+\(([\d.]+) per sec/.exec(sb)?.[1] ?? NaN);
    const lags: number[] = [];
    let j = 0;
    for (const c of commits) {
      while (j < durable.length && durable[j]!.seq < c.seq) j++;
      if (j < durable.length) lags.push(Math.max(0, durable[j]!.at - c.at));
    }
    const seconds = (Date.now() - t0) / 1000;
    const cpu = cpuSeconds(agent.child.pid!) - cpu0;
    const s = await stored(e, clusterId);
    return { encoding, sysbenchTps: tps, probeCommits: commits.length, lagP50Ms: percentile(lags, 50), lagP99Ms: percentile(lags, 99), putsPerSecond: s.chunks / seconds, ratio: s.binlogBytes / s.storedBytes, ...s, agentCpuSeconds: cpu };
  } finally {
    await agent.stop();
  }
}

/** 2. The agent catches up on the whole binlog (the backlog) from the oldest file. */
async function catchUpRun(e: Env, clusterId: string, encoding: Encoding, binlogBytes: number) {
  const end = await serverEnd(e.server);
  const repo = repoFor(e, clusterId);
  const t0 = Date.now();
  const agent = startAgent(e, clusterId, encoding, 'oldest');
  try {
    await waitCaughtUp(repo, end, { timeoutMs: 20 * 60_000, check: () => { if (agent.child.exitCode !== null) throw new Error(`agent exited: ${agent.log.slice(-2000)}`); } });
    const seconds = (Date.now() - t0) / 1000;
    const cpu = cpuSeconds(agent.child.pid!);
    const s = await stored(e, clusterId);
    return { encoding, seconds, mibPerSecond: binlogBytes / 2 ** 20 / seconds, ratio: s.binlogBytes / s.storedBytes, ...s, agentCpuSeconds: cpu };
  } finally {
    await agent.stop();
  }
}

async function main(): Promise<void> {
  const server = await MariaDbServer.start({ extraArgs: ['--innodb-buffer-pool-size=512M', '--innodb-log-file-size=256M', '--sync-binlog=1'] });
  const stack = await startLocalStack({ clusterId: 'bench' });
  for (const [k, v] of Object.entries(stack.env)) if (k.startsWith('AWS_')) process.env[k] = v;
  const e = { server, stack };
  const results: Record<string, unknown> = { machine: machine(), parameters: { quick, RUNS, TABLE_SIZE, tables: 4, LOAD_SECONDS, BACKLOG_SECONDS, zstdLevel: 1, chunkDefaults: { maxBytes: '8 MiB', maxAgeMs: defaults.chunkMaxAgeMs } } };
  try {
    await server.query('CREATE DATABASE sbtest');
    await server.query('CREATE DATABASE bench');
    say(`sysbench prepare: 4 tables x ${TABLE_SIZE} rows`);
    await sysbench(server, 'prepare', sbShape, ['--threads=4']);

    say(`1. lag: sysbench oltp_write_only, 8 threads, ${LOAD_SECONDS} s, plus a probe; ${RUNS} runs per encoding, alternating`);
    const lag: Awaited<ReturnType<typeof lagRun>>[] = [];
    for (let i = 0; i < RUNS; i++) {
      for (const enc of ENCODINGS) {
        const r = await lagRun(e, `lag-${enc}-${i}`, enc);
        lag.push(r);
        say(`   ${enc.padEnd(4)} run ${i + 1}: sysbench ${r.sysbenchTps.toFixed(0)} tx/s, lag p50 ${r.lagP50Ms} ms p99 ${r.lagP99Ms} ms, ${r.putsPerSecond.toFixed(1)} PUT/s, stored ${(r.storedBytes / 2 ** 20).toFixed(1)} of ${(r.binlogBytes / 2 ** 20).toFixed(1)} MiB (${r.ratio.toFixed(2)}x), agent CPU ${r.agentCpuSeconds.toFixed(1)} s`);
      }
    }

    say(`2. catch-up: a backlog of ${BACKLOG_SECONDS} s of sysbench with no agent running`);
    await server.query('RESET MASTER');
    await sysbench(server, 'run', sbShape, ['--threads=8', `--time=${BACKLOG_SECONDS}`]);
    const logs = await server.query<{ File_size: number }[]>('SHOW BINARY LOGS');
    const binlogBytes = logs.reduce((n, r) => n + Number(r.File_size), 0);
    say(`   backlog: ${(binlogBytes / 2 ** 20).toFixed(0)} MiB of binlog`);
    const catchUp: Awaited<ReturnType<typeof catchUpRun>>[] = [];
    for (let i = 0; i < RUNS; i++) {
      for (const enc of ENCODINGS) {
        const r = await catchUpRun(e, `catchup-${enc}-${i}`, enc, binlogBytes);
        catchUp.push(r);
        say(`   ${enc.padEnd(4)} run ${i + 1}: ${r.seconds.toFixed(1)} s, ${r.mibPerSecond.toFixed(0)} MiB/s, stored ${(r.storedBytes / 2 ** 20).toFixed(0)} MiB (${r.ratio.toFixed(2)}x), agent CPU ${r.agentCpuSeconds.toFixed(1)} s`);
      }
    }

    const summarise = (enc: Encoding) => {
        const l = lag.filter((r) => r.encoding === enc);
        const c = catchUp.filter((r) => r.encoding === enc);
        return {
          lagP50Ms: median(l.map((r) => r.lagP50Ms)),
          lagP99Ms: median(l.map((r) => r.lagP99Ms)),
          putsPerSecond: median(l.map((r) => r.putsPerSecond)),
          lagRatio: median(l.map((r) => r.ratio)),
          lagAgentCpuSeconds: median(l.map((r) => r.agentCpuSeconds)),
          catchUpMiBps: median(c.map((r) => r.mibPerSecond)),
          catchUpRatio: median(c.map((r) => r.ratio)),
          catchUpAgentCpuSeconds: median(c.map((r) => r.agentCpuSeconds)),
        };
    };
    const summary = { none: summarise('none'), zstd: summarise('zstd') };
    results.lag = lag;
    results.catchUp = { binlogBytes, runs: catchUp };
    results.median = summary;
    results.zstdVsNone = { catchUpThroughput: summary.zstd.catchUpMiBps / summary.none.catchUpMiBps, lagP99: summary.zstd.lagP99Ms / summary.none.lagP99Ms, storedBytes: 1 / summary.zstd.catchUpRatio };
    say(`median: none ${summary.none.catchUpMiBps.toFixed(0)} MiB/s, zstd ${summary.zstd.catchUpMiBps.toFixed(0)} MiB/s catch-up (${(summary.zstd.catchUpMiBps / summary.none.catchUpMiBps).toFixed(2)}x); lag p99 none ${summary.none.lagP99Ms} ms, zstd ${summary.zstd.lagP99Ms} ms; zstd stores ${(100 / summary.zstd.catchUpRatio).toFixed(0)} % of the bytes`);
    say(`results: ${writeResults(quick ? 'chunk-encoding-quick' : 'chunk-encoding', results)}`);
  } finally {
    await Promise.all([server.stop(), stack.stop()]);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
