/**
 * bench/stream: the streaming agent against its baselines, same machine, same run.
 *   1. commit -> durable lag under a sustained load of small transactions (8 connections);
 *   2. catch-up throughput on a >= 1 GiB binlog backlog: the agent to the local S3 stand-in and
 *      to a local directory, versus `mariadb-binlog --read-from-remote-server --raw` to disk,
 *      plus the S3 stand-in's own PUT throughput (is it the bottleneck?);
 *   3. the agent's peak RSS during each, and while streaming a single 1 GiB transaction;
 *   4. S3 PUTs during 60 s of no writes.
 * Usage: node dist/bench/stream.js [--quick]. Results: bench/results/stream.json.
 */
import { defaults } from '../agent/config.js';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import { serverEnd, waitCaughtUp } from '../agent/local/catch-up.js';
import { MariaDbServer } from '../agent/server/mariadb.js';
import { startLocalStack, type LocalStack } from '../agent/local/stack.js';
import { sha256Hex } from '../agent/store/bytes.js';
import { sleep } from '../agent/retry.js';
import { ClusterStateRepo } from '../agent/cluster/repo.js';
import { openObjectStore, openStateStore } from '../agent/wiring.js';
import { AgentProcess } from '../agent/local/agent-process.js';
import { machine, median, peakRssMiB, say, writeResults } from './common.js';
import { commitLags, commitProbes, lagSummary, probeTableDdl, watchDurable } from './lag.js';

const quick = process.argv.includes('--quick');
const RUNS = 3;
const LAG_SECONDS = quick ? 8 : 20;
const LAG_CONNECTIONS = 8;
const BACKLOG_BYTES = quick ? 128 * 2 ** 20 : 1.05 * 2 ** 30;
const BIG_TXN_BYTES = quick ? 128 * 2 ** 20 : 1.0 * 2 ** 30;
const IDLE_SECONDS = quick ? 10 : 60;

const run = promisify(execFile);

interface Env {
  server: MariaDbServer;
  stack: LocalStack;
}

function agentEnv(e: Env, clusterId: string, extra: Record<string, string> = {}): Record<string, string> {
  return { ...e.stack.env, SQUIRREL_CLUSTER_ID: clusterId, SQUIRREL_MYSQL_URL: e.server.url, SQUIRREL_LOG_LEVEL: 'warn', SQUIRREL_AGENT_ID: `bench-${clusterId}`, ...extra };
}

/** Waits until the durable position reaches `end`; returns when it did (ms since epoch). */
async function waitDurable(repo: ClusterStateRepo, end: { file: string; pos: number }, timeoutMs: number, agent?: AgentProcess): Promise<number> {
  await waitCaughtUp(repo, end, {
    timeoutMs,
    check: () => {
      if (agent && agent.child.exitCode !== null) throw new Error(`agent exited: ${agent.log.slice(-2000)}`);
    },
  });
  return Date.now();
}

/** 1. Lag: every commit's time and GTID sequence, against when the durable position covered it. */
async function measureLag(e: Env, runIndex: number) {
  const clusterId = `lag-${runIndex}`;
  await e.server.query(probeTableDdl(`bench.lag${runIndex}`));
  const repo = new ClusterStateRepo(openStateStore({ table: e.stack.table, region: e.stack.region, dynamodbEndpoint: e.stack.dynamodb.endpoint }), clusterId);
  const agent = AgentProcess.start(agentEnv(e, clusterId), ['--from', 'current']);
  try {
    // let the agent join before the load begins
    for (let i = 0; !(await repo.read())?.heartbeatAt && i < 300; i++) await sleep(20);
    const watch = watchDurable(repo);
    const t0 = Date.now();
    const commits = await commitProbes(e.server.url, `bench.lag${runIndex}`, LAG_CONNECTIONS, LAG_SECONDS);
    const elapsed = (Date.now() - t0) / 1000;
    const durable = await watch.finish(Math.max(...commits.map((c) => c.seq)));
    const lags = commitLags(commits, durable);
    const rss = peakRssMiB(agent.child.pid!);
    return { transactions: commits.length, ratePerSecond: commits.length / elapsed, ...lagSummary(lags), agentPeakRssMiB: rss };
  } finally {
    await agent.stop();
  }
}

/** Writes about `bytes` of binlog in transactions of ~4 MiB (4 KiB rows). */
async function makeBacklog(server: MariaDbServer, table: string, bytes: number, oneTransaction = false): Promise<void> {
  await server.query(`CREATE TABLE IF NOT EXISTS bench.${table} (id BIGINT PRIMARY KEY AUTO_INCREMENT, pad VARBINARY(4096))`);
  const rowsPerStatement = 1000; // ~4 MiB of row events per statement
  const statements = Math.ceil(bytes / (rowsPerStatement * 4096));
  const conn = await mysql.createConnection(server.url);
  try {
    if (oneTransaction) await conn.beginTransaction();
    for (let i = 0; i < statements; i++) {
      await conn.query(`INSERT INTO bench.${table} (pad) SELECT CONCAT(RANDOM_BYTES(1024), RANDOM_BYTES(1024), RANDOM_BYTES(1024), RANDOM_BYTES(1024)) FROM bench.seq_1_to_${rowsPerStatement}`);
    }
    if (oneTransaction) await conn.commit();
  } finally {
    await conn.end();
  }
}

async function binlogBytes(server: MariaDbServer): Promise<number> {
  const rows = await server.query<{ File_size: number }[]>('SHOW BINARY LOGS');
  return rows.reduce((n, r) => n + Number(r.File_size), 0);
}

async function baselineCopy(server: MariaDbServer, firstFile: string): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'sq-bench-raw-'));
  try {
    const t0 = Date.now();
    await run('mariadb-binlog', ['--read-from-remote-server', '--raw', '--host=127.0.0.1', `--port=${server.port}`, '--user=root', `--password=${server.rootPassword}`, `--result-file=${dir}/`, '--to-last-log', firstFile], { maxBuffer: 1 << 20 });
    return (Date.now() - t0) / 1000;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function agentCatchUp(e: Env, clusterId: string, extra: Record<string, string>): Promise<{ seconds: number; rss: number }> {
  const end = await serverEnd(e.server);
  const repo = new ClusterStateRepo(openStateStore({ table: e.stack.table, region: e.stack.region, dynamodbEndpoint: e.stack.dynamodb.endpoint }), clusterId);
  const t0 = Date.now();
  const agent = AgentProcess.start(agentEnv(e, clusterId, extra));
  try {
    const done = await waitDurable(repo, end, 20 * 60_000, agent);
    return { seconds: (done - t0) / 1000, rss: peakRssMiB(agent.child.pid!) };
  } finally {
    await agent.stop();
  }
}

/** The S3 stand-in alone: 8 MiB PUTs, 4 at a time, as the agent sends them. */
async function s3PutThroughput(e: Env): Promise<number> {
  const store = openObjectStore({ bucket: e.stack.bucket, region: e.stack.region, s3Endpoint: e.stack.s3.endpoint });
  const body = randomBytes(8 * 2 ** 20);
  const sha = sha256Hex(body);
  const total = quick ? 16 : 64;
  const t0 = Date.now();
  let next = 0;
  await Promise.all(Array.from({ length: 4 }, async () => {
    while (next < total) await store.putIfAbsent(`bench-put/${next++}`, body, sha, {});
  }));
  const seconds = (Date.now() - t0) / 1000;
  for (let i = 0; i < total; i++) await store.delete(`bench-put/${i}`);
  return (total * body.length) / 2 ** 20 / seconds;
}

async function countChunks(e: Env, clusterId: string): Promise<number> {
  const store = openObjectStore({ bucket: e.stack.bucket, region: e.stack.region, s3Endpoint: e.stack.s3.endpoint });
  let n = 0;
  for await (const _ of store.list(`${clusterId}/binlog/`)) n++;
  return n;
}

async function main(): Promise<void> {
  const server = await MariaDbServer.start({ extraArgs: ['--max-binlog-size=256M', '--innodb-buffer-pool-size=256M', '--innodb-log-file-size=256M', '--max-allowed-packet=64M'] });
  const stack = await startLocalStack({ clusterId: 'bench' });
  for (const [k, v] of Object.entries(stack.env)) if (k.startsWith('AWS_')) process.env[k] = v;
  const e = { server, stack };
  // the machine is shared: record how busy it was (1, 5 and 15 minute load averages)
  const loadAverage: { start: number[]; end?: number[] } = { start: loadavg() };
  const results: Record<string, unknown> = { machine: machine(), loadAverage, parameters: { quick, RUNS, LAG_SECONDS, LAG_CONNECTIONS, BACKLOG_BYTES, BIG_TXN_BYTES, IDLE_SECONDS, chunkDefaults: { maxBytes: '8 MiB', maxAgeMs: defaults.chunkMaxAgeMs } } };
  try {
    await server.query('CREATE DATABASE bench');

    say(`1. lag: ${LAG_CONNECTIONS} connections of single-row autocommit INSERTs for ${LAG_SECONDS} s, ${RUNS} runs`);
    const lagRuns = [];
    for (let i = 0; i < RUNS; i++) {
      const r = await measureLag(e, i);
      say(`   run ${i + 1}: ${r.ratePerSecond.toFixed(0)} tx/s, lag p50 ${r.lagP50Ms} ms, p99 ${r.lagP99Ms} ms, max ${r.lagMaxMs} ms, agent peak RSS ${r.agentPeakRssMiB.toFixed(0)} MiB`);
      lagRuns.push(r);
    }
    results.lag = { runs: lagRuns, median: { ratePerSecond: median(lagRuns.map((r) => r.ratePerSecond)), lagP50Ms: median(lagRuns.map((r) => r.lagP50Ms)), lagP99Ms: median(lagRuns.map((r) => r.lagP99Ms)) } };

    say(`2. catch-up on a ${(BACKLOG_BYTES / 2 ** 30).toFixed(2)} GiB backlog`);
    await server.query('FLUSH BINARY LOGS');
    const [first] = await server.query<{ File: string }[]>('SHOW MASTER STATUS');
    const before = await binlogBytes(server);
    await makeBacklog(server, 'backlog', BACKLOG_BYTES);
    const end = await serverEnd(server);
    const rows = await server.query<{ Log_name: string; File_size: number }[]>('SHOW BINARY LOGS');
    const backlog = rows.filter((r) => r.Log_name >= first!.File).reduce((n, r) => n + Number(r.File_size), 0);
    say(`   backlog: ${(backlog / 2 ** 20).toFixed(0)} MiB in ${rows.filter((r) => r.Log_name >= first!.File).length} files (server total ${((before + backlog) / 2 ** 20).toFixed(0)} MiB), ends at ${end.file}:${end.pos}`);
    // the agent starts at the first backlog file: its cluster is created with --from current... at the backlog start
    const mib = backlog / 2 ** 20;
    const base: number[] = [];
    const s3: { seconds: number; rss: number }[] = [];
    const dir: { seconds: number; rss: number }[] = [];
    const puts: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      base.push(await baselineCopy(server, first!.File));
      // purge nothing; each agent run is a fresh cluster that starts at the oldest file, so it
      // streams everything before the backlog too: count those bytes in its throughput
      const storeDir = mkdtempSync(join(tmpdir(), 'sq-bench-store-'));
      try {
        dir.push(await agentCatchUp(e, `catchup-dir-${i}`, { SQUIRREL_STORE_DIR: storeDir }));
      } finally {
        rmSync(storeDir, { recursive: true, force: true });
      }
      s3.push(await agentCatchUp(e, `catchup-s3-${i}`, {}));
      puts.push(await s3PutThroughput(e));
      say(`   run ${i + 1}: mariadb-binlog ${(mib / base[i]!).toFixed(0)} MiB/s; agent -> local dir ${((before + backlog) / 2 ** 20 / dir[i]!.seconds).toFixed(0)} MiB/s (RSS ${dir[i]!.rss.toFixed(0)} MiB); agent -> S3 stand-in ${((before + backlog) / 2 ** 20 / s3[i]!.seconds).toFixed(0)} MiB/s (RSS ${s3[i]!.rss.toFixed(0)} MiB); S3 stand-in alone ${puts[i]!.toFixed(0)} MiB/s`);
    }
    const baseRate = mib / median(base);
    const dirRate = (before + backlog) / 2 ** 20 / median(dir.map((r) => r.seconds));
    const s3Rate = (before + backlog) / 2 ** 20 / median(s3.map((r) => r.seconds));
    results.catchUp = {
      backlogBytes: backlog,
      agentBytes: before + backlog,
      runs: { baselineSeconds: base, agentDir: dir, agentS3: s3, s3StandInPutMiBps: puts },
      median: { baselineMiBps: baseRate, agentDirMiBps: dirRate, agentS3MiBps: s3Rate, s3StandInPutMiBps: median(puts) },
      ratio: { agentDirVsBaseline: dirRate / baseRate, agentS3VsBaseline: s3Rate / baseRate },
      agentPeakRssMiB: Math.max(...dir.map((r) => r.rss), ...s3.map((r) => r.rss)),
    };
    say(`   median: baseline ${baseRate.toFixed(0)} MiB/s, agent->dir ${dirRate.toFixed(0)} MiB/s (${(dirRate / baseRate).toFixed(2)}x), agent->S3 stand-in ${s3Rate.toFixed(0)} MiB/s (${(s3Rate / baseRate).toFixed(2)}x), S3 stand-in PUTs alone ${median(puts).toFixed(0)} MiB/s`);

    say(`3. one transaction of ${(BIG_TXN_BYTES / 2 ** 30).toFixed(2)} GiB`);
    await server.query('FLUSH BINARY LOGS');
    await server.query('RESET MASTER'); // drop the backlog: this run streams the big transaction only
    await makeBacklog(server, 'big', BIG_TXN_BYTES, true);
    const storeDir = mkdtempSync(join(tmpdir(), 'sq-bench-big-'));
    try {
      const big = await agentCatchUp(e, 'big-txn', { SQUIRREL_STORE_DIR: storeDir });
      results.bigTransaction = { bytes: await binlogBytes(server), seconds: big.seconds, agentPeakRssMiB: big.rss };
      say(`   streamed in ${big.seconds.toFixed(1)} s, agent peak RSS ${big.rss.toFixed(0)} MiB`);
    } finally {
      rmSync(storeDir, { recursive: true, force: true });
    }

    say(`4. S3 PUTs during ${IDLE_SECONDS} s with no writes`);
    const idle = AgentProcess.start(agentEnv(e, 'idle'));
    try {
      const repo = new ClusterStateRepo(openStateStore({ table: stack.table, region: stack.region, dynamodbEndpoint: stack.dynamodb.endpoint }), 'idle');
      await waitDurable(repo, await serverEnd(server), 10 * 60_000, idle);
      await sleep(1000);
      const beforeIdle = await countChunks(e, 'idle');
      await sleep(IDLE_SECONDS * 1000);
      const afterIdle = await countChunks(e, 'idle');
      results.idle = { seconds: IDLE_SECONDS, chunkPuts: afterIdle - beforeIdle };
      say(`   chunk PUTs: ${afterIdle - beforeIdle}`);
    } finally {
      await idle.stop();
    }
  } finally {
    loadAverage.end = loadavg();
    const path = writeResults(quick ? 'stream-quick' : 'stream', results);
    say(`results: ${path}`);
    await server.stop();
    await stack.stop();
  }
}

await main();
