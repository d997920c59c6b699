/**
 * bench/lossless: what lossless mode costs a commit, against asynchronous streaming, same run.
 *   1. One private MariaDB primary with durable settings in both modes (sync_binlog=1,
 *      innodb_flush_log_at_trx_commit=1), semi-sync wait point AFTER_SYNC; semi-sync is switched
 *      ON only for the lossless trials (rpl_semi_sync_master_enabled).
 *   2. Per trial (threads × mode): a fresh cluster, the agent as its own process (`squirrel agent`,
 *      as in production) with `lossless` off or strict; N client connections, each a loop of
 *      single-row autocommit INSERTs for a fixed time; every commit's latency is recorded. Then
 *      the durable position catches up, the agent stops, and its chunk objects are counted.
 *   3. Per run, unloaded, through the agent's own adapters (agent/wiring.ts): the latency of one
 *      chunk PUT (the median chunk size of the run's lossless trials, with a real chunk's metadata)
 *      and of one durable-position write (ClusterStateRepo.advance: a conditional UpdateItem).
 *   4. Where a lossless commit's time goes, per thread count: the agent in this process with its
 *      chunk PUTs timed, each commit matched to its chunk by GTID (see breakdown).
 *   Target: lossless p99 − async p99 ≤ 2 × (PUT p99 + position write p99), at every thread count.
 * Usage: node dist/bench/lossless.js [--quick] [--seconds 15] [--runs 3]. Results:
 * bench/results/lossless.json (lossless-quick.json with --quick).
 */
import { defaults } from '../agent/config.js';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import mysql from 'mysql2/promise';
import { ClusterStateRepo } from '../agent/cluster/repo.js';
import { AgentProcess } from '../agent/local/agent-process.js';
import { buildStreamer, objectStoreFor } from '../agent/cli/agent.js';
import { localAgentConfig, waitCaughtUp } from '../agent/local/catch-up.js';
import { silentLogger } from '../agent/log.js';
import { startLocalStack, type LocalStack } from '../agent/local/stack.js';
import { binlogPrefix } from '../agent/keys.js';
import type { ObjectInfo, ObjectStore } from '../agent/ports/object-store.js';
import { sleep } from '../agent/retry.js';
import { MariaDbServer } from '../agent/server/mariadb.js';
import { sha256Hex } from '../agent/store/bytes.js';
import { openObjectStore, openStateStore } from '../agent/wiring.js';
import { machine, median, percentile, say, writeResults } from './common.js';
import { STRICT_TIMEOUT_MS } from '../agent/preflight.js';

const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--seconds' || args[i] === '--runs') i++;
  else if (args[i] !== '--quick') throw new Error(`unknown argument ${args[i]}; usage: node dist/bench/lossless.js [--quick] [--seconds N] [--runs N]`);
}
const QUICK = args.includes('--quick');
const option = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} takes a positive number; received: ${args[i + 1] ?? '(nothing)'}`);
  return v;
};
const RUNS = option('--runs', QUICK ? 1 : 3);
const SECONDS = option('--seconds', QUICK ? 4 : 15);
const THREADS = [1, 8, 32];
const MODES = ['async', 'lossless'] as const;
type Mode = (typeof MODES)[number];
/** Sequential PUTs and position writes per run, unloaded. */
const PROBES = QUICK ? 40 : 200;
/** Strict mode's timeout (preflight requires >= 1 h): no commit falls back to asynchronous (checked: no_tx). */
const SEMI_SYNC_TIMEOUT_MS = Number(STRICT_TIMEOUT_MS);
/** S3 Standard PUT requests, us-east-1: $0.005 per 1,000. */
const USD_PER_1000_PUTS = 0.005;
/** AWS prices a month as 730 hours. */
const SECONDS_PER_MONTH = 730 * 3600;
const DURABILITY = { sync_binlog: 1, innodb_flush_log_at_trx_commit: 1 } as const;

interface Env {
  server: MariaDbServer;
  stack: LocalStack;
}

const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;
const objects = (e: Env) => openObjectStore({ bucket: e.stack.bucket, region: e.stack.region, s3Endpoint: e.stack.s3.endpoint });
const repoFor = (e: Env, clusterId: string) => new ClusterStateRepo(openStateStore({ table: e.stack.table, region: e.stack.region, dynamodbEndpoint: e.stack.dynamodb.endpoint }), clusterId);

/** The server's semi-sync counters (numeric ones), to tell how many commits waited and for how long. */
async function semiSync(server: MariaDbServer): Promise<Record<string, number>> {
  const rows = await server.query<{ Variable_name: string; Value: string }[]>("SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_%'");
  return Object.fromEntries(rows.filter((r) => r.Value !== '' && Number.isFinite(Number(r.Value))).map((r) => [r.Variable_name, Number(r.Value)]));
}

async function chunksOf(e: Env, clusterId: string): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const o of objects(e).list(binlogPrefix('', clusterId))) out.push(o);
  return out;
}

/** The sequence number of a MariaDB GTID (`0-1-17` → 17). */
const gtidSeq = (gtid: string) => Number(gtid.split('-')[2]);

interface Commit {
  startMs: number;
  endMs: number;
  /** The commit's GTID sequence number (with `withGtid`). */
  seq?: number;
}

/**
 * `threads` connections, each committing single-row INSERTs until `seconds` pass; every commit's
 * start and end. `withGtid` asks each commit's GTID in the same round trip (`SELECT @@last_gtid`).
 */
async function load(server: MariaDbServer, threads: number, seconds: number, withGtid = false): Promise<{ commits: Commit[]; startMs: number; seconds: number }> {
  const conns = await Promise.all(Array.from({ length: threads }, () => mysql.createConnection({ uri: server.url, multipleStatements: withGtid })));
  const commits: Commit[] = [];
  try {
    const t0 = performance.now();
    const until = t0 + seconds * 1000;
    const insert = () => `INSERT INTO bench.t (k, pad) VALUES (${Math.floor(Math.random() * 1e9)}, 'p')${withGtid ? '; SELECT @@last_gtid AS g' : ''}`;
    await Promise.all(
      conns.map(async (conn) => {
        while (performance.now() < until) {
          const startMs = performance.now();
          const [results] = await conn.query(insert());
          const endMs = performance.now();
          commits.push({ startMs, endMs, ...(withGtid ? { seq: gtidSeq(((results as unknown[])[1] as { g: string }[])[0]!.g) } : {}) });
        }
      }),
    );
    return { commits, startMs: t0, seconds: (performance.now() - t0) / 1000 };
  } finally {
    await Promise.all(conns.map((c) => c.end().catch(() => undefined)));
  }
}

const latencies = (commits: Commit[]) => commits.map((c) => c.endMs - c.startMs);

interface Trial {
  run: number;
  mode: Mode;
  threads: number;
  clusterId: string;
  seconds: number;
  commits: number;
  txPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  chunks: number;
  putsPerSecond: number;
  commitsPerChunk: number;
  chunkBytes: { p50: number; max: number };
  /** The server's semi-sync counters over the load (lossless trials). */
  semiSync?: SemiSyncDelta;
}

interface SemiSyncDelta {
  /** Commits that waited for an acknowledgement, and commits that fell back to asynchronous (must be 0). */
  yesTx: number;
  noTx: number;
  /** Acknowledgement waits (a commit whose acknowledgement had already come does not wait). */
  waits: number;
  waitMsMean: number;
  /** The waits' total time over the load's: how many waits ran at once, on average. */
  waitingAtOnce: number;
  counters: Record<string, number>;
}

/** What the server's semi-sync counters say about one load (the averages among them are left out: their difference means nothing). */
function semiSyncDelta(before: Record<string, number>, after: Record<string, number>, seconds: number): SemiSyncDelta {
  const d = (k: string) => (after[k] ?? 0) - (before[k] ?? 0);
  const counters = Object.fromEntries(Object.keys(after).filter((k) => !k.includes('_avg_') && k !== 'Rpl_semi_sync_master_clients').map((k) => [k, d(k)]));
  const waits = d('Rpl_semi_sync_master_tx_waits');
  const waitUs = d('Rpl_semi_sync_master_tx_wait_time');
  return { yesTx: d('Rpl_semi_sync_master_yes_tx'), noTx: d('Rpl_semi_sync_master_no_tx'), waits, waitMsMean: waits > 0 ? waitUs / 1000 / waits : 0, waitingAtOnce: waitUs / 1e6 / seconds, counters };
}

/**
 * Waits until the agent has joined its new cluster (claimed epoch 1 at the server's current
 * position, so every later commit is in its stream) and, in lossless mode, the server counts a
 * semi-sync replica. The replica count alone is not enough: the previous trial's agent may still be
 * counted for a moment, and a commit written before the new agent's start position would wait for
 * an acknowledgement that never comes. `check` throws if the agent died, else says what it logged.
 */
async function waitJoined(e: Env, repo: ClusterStateRepo, mode: Mode, check: () => string): Promise<void> {
  for (let i = 0; ; i++) {
    const log = check();
    const joined = Boolean((await repo.read())?.heartbeatAt);
    const replica = mode === 'async' || (await semiSync(e.server)).Rpl_semi_sync_master_clients === 1;
    if (joined && replica) return;
    if (i > 1500) throw new Error(`the agent did not join within 30 s: ${log}`);
    await sleep(20);
  }
}

async function trial(e: Env, run: number, mode: Mode, threads: number): Promise<Trial> {
  const clusterId = `${mode}-${threads}t-r${run}`;
  const repo = repoFor(e, clusterId);
  await e.server.query(`SET GLOBAL rpl_semi_sync_master_enabled = ${mode === 'lossless' ? 'ON' : 'OFF'}`);
  const agent = AgentProcess.start(
    { ...e.stack.env, SQUIRREL_CLUSTER_ID: clusterId, SQUIRREL_MYSQL_URL: e.server.url, SQUIRREL_LOG_LEVEL: 'warn', SQUIRREL_AGENT_ID: `bench-${clusterId}`, SQUIRREL_LOSSLESS: mode === 'lossless' ? 'strict' : 'off' },
    ['--from', 'current'],
  );
  const alive = () => {
    if (agent.child.exitCode !== null || agent.child.signalCode !== null) throw new Error(`agent exited (${agent.child.exitCode ?? agent.child.signalCode}): ${agent.log.slice(-2000)}`);
  };
  try {
    await waitJoined(e, repo, mode, () => {
      alive();
      return agent.log.slice(-2000);
    });
    const before = mode === 'lossless' ? await semiSync(e.server) : undefined;
    const l = await load(e.server, threads, SECONDS);
    const after = mode === 'lossless' ? await semiSync(e.server) : undefined;
    await waitCaughtUp(repo, e.server, { timeoutMs: 120_000, check: alive });
    const code = await agent.stop();
    if (code !== 0) throw new Error(`agent exited with ${code} on SIGTERM: ${agent.log.slice(-2000)}`);
    const chunks = await chunksOf(e, clusterId);
    const sizes = chunks.map((c) => c.sizeBytes);
    const ms = latencies(l.commits);
    const commits = ms.length;
    return {
      run,
      mode,
      threads,
      clusterId,
      seconds: l.seconds,
      commits,
      txPerSecond: commits / l.seconds,
      p50Ms: percentile(ms, 50),
      p99Ms: percentile(ms, 99),
      maxMs: Math.max(...ms),
      chunks: chunks.length,
      putsPerSecond: chunks.length / l.seconds,
      commitsPerChunk: commits / Math.max(1, chunks.length),
      chunkBytes: { p50: percentile(sizes, 50), max: Math.max(0, ...sizes) },
      ...(before && after ? { semiSync: semiSyncDelta(before, after, l.seconds) } : {}),
    };
  } finally {
    await agent.stop();
    // a failure above may have been the server's own: that one is reported, not this
    await e.server.query('SET GLOBAL rpl_semi_sync_master_enabled = OFF').catch(() => undefined);
  }
}

interface Probe {
  putBytes: number;
  putP50Ms: number;
  putP99Ms: number;
  advanceP50Ms: number;
  advanceP99Ms: number;
}

/**
 * One chunk PUT and one durable-position write, each timed `PROBES` times in sequence through the
 * agent's adapters: the PUT of `bytes` with the metadata of a real chunk (`like`), the write as
 * the shipper makes it (ClusterStateRepo.advance on a cluster of its own).
 */
async function probe(e: Env, run: number, bytes: number, like: string): Promise<Probe> {
  const store = objects(e);
  const metadata = (await store.head(like))?.metadata ?? {};
  const put: number[] = [];
  for (let i = 0; i < PROBES; i++) {
    const body = randomBytes(bytes);
    const sha = sha256Hex(body);
    const started = performance.now();
    await store.putIfAbsent(`bench-probe/r${run}/${i}`, body, sha, { ...metadata, sha256: sha });
    put.push(performance.now() - started);
  }
  const repo = repoFor(e, `probe-r${run}`);
  const holder = `bench-probe-r${run}`;
  const state = await repo.claimFirstEpoch({ file: 'mariadb-bin.000001', pos: 4, gtid: '' }, holder, Date.now(), 600_000);
  const advance: number[] = [];
  for (let seq = 1; seq <= PROBES; seq++) {
    const position = { epoch: state.epoch, seq, file: 'mariadb-bin.000001', end: 4 + seq * bytes, gtid: `0-1-${seq}`, key: `probe/${seq}`, at: new Date().toISOString() };
    const started = performance.now();
    await repo.advance(holder, position);
    advance.push(performance.now() - started);
  }
  return { putBytes: bytes, putP50Ms: percentile(put, 50), putP99Ms: percentile(put, 99), advanceP50Ms: percentile(advance, 50), advanceP99Ms: percentile(advance, 99) };
}

interface Breakdown {
  threads: number;
  txPerSecond: number;
  commits: number;
  chunks: number;
  commitsPerChunk: number;
  /** Commits per chunk, chunk by chunk: how the server's commit groups come (a chunk holds one group). */
  chunkCommits: { p50: number; p90: number; max: number; singleShare: number };
  /** Medians over the commits (ms): from the client's send to its chunk's PUT starting, the PUT, and from the PUT's end to the commit returning. */
  untilPutMs: number;
  putMs: number;
  afterPutMs: number;
  latencyMs: number;
}

/**
 * Where a lossless commit's time goes: the agent runs in this process (buildStreamer, as the
 * lossless tests do) with an object store that times each chunk PUT; each commit returns its GTID
 * (`SELECT @@last_gtid` in the same round trip), which names its chunk. Per commit: until its
 * chunk's PUT starts (queueing at the server, fsync, the dump, the cut), the PUT, and after it
 * (the durable-position write, the acknowledgement, the server waking the commit).
 */
async function breakdown(e: Env, threads: number): Promise<Breakdown> {
  const clusterId = `breakdown-${threads}t`;
  await e.server.query('SET GLOBAL rpl_semi_sync_master_enabled = ON');
  const config = { ...localAgentConfig(e.stack, e.server.url, clusterId), lossless: 'strict' as const, agentId: `bench-${clusterId}` };
  const inner = objectStoreFor(config);
  const puts: { first: number; last: number; startMs: number; endMs: number }[] = [];
  const timed = Object.create(inner) as ObjectStore;
  timed.putIfAbsent = async (key, body, sha256, metadata) => {
    const startMs = performance.now();
    await inner.putIfAbsent(key, body, sha256, metadata);
    if (metadata['first-gtid']) puts.push({ first: gtidSeq(metadata['first-gtid']), last: gtidSeq(metadata['last-gtid'] ?? ''), startMs, endMs: performance.now() });
  };
  const { streamer, close } = buildStreamer(config, silentLogger, 'current', { objects: timed });
  const running = streamer.run();
  try {
    await waitJoined(e, repoFor(e, clusterId), 'lossless', () => '(in process)');
    const { commits, startMs: t0, seconds } = await load(e.server, threads, SECONDS, true);
    const parts = { untilPut: [] as number[], put: [] as number[], afterPut: [] as number[] };
    for (const c of commits) {
      const p = puts.find((x) => x.first <= c.seq! && c.seq! <= x.last);
      if (!p) continue;
      parts.untilPut.push(p.startMs - c.startMs);
      parts.put.push(p.endMs - p.startMs);
      parts.afterPut.push(c.endMs - p.endMs);
    }
    const loadPuts = puts.filter((p) => p.startMs >= t0);
    const perChunk = loadPuts.map((p) => p.last - p.first + 1);
    return {
      threads,
      txPerSecond: commits.length / seconds,
      commits: commits.length,
      chunks: loadPuts.length,
      commitsPerChunk: commits.length / Math.max(1, loadPuts.length),
      chunkCommits: { p50: percentile(perChunk, 50), p90: percentile(perChunk, 90), max: Math.max(0, ...perChunk), singleShare: perChunk.filter((n) => n === 1).length / Math.max(1, perChunk.length) },
      untilPutMs: median(parts.untilPut),
      putMs: median(parts.put),
      afterPutMs: median(parts.afterPut),
      latencyMs: median(latencies(commits)),
    };
  } finally {
    await streamer.stop();
    const reason = await running;
    await close();
    await e.server.query('SET GLOBAL rpl_semi_sync_master_enabled = OFF').catch(() => undefined);
    if (reason.kind !== 'stopped') say(`   (the in-process agent ended ${reason.kind}${reason.kind === 'failed' ? `: ${String(reason.error)}` : ''})`);
  }
}

/** S3 PUT requests a month at `perSecond`, in US dollars. */
const putUsdPerMonth = (perSecond: number) => (perSecond * SECONDS_PER_MONTH * USD_PER_1000_PUTS) / 1000;

async function main(): Promise<void> {
  const server = await MariaDbServer.start({
    syncBinlog: DURABILITY.sync_binlog,
    innodbFlushLogAtTrxCommit: DURABILITY.innodb_flush_log_at_trx_commit,
    innodbSizes: { bufferPoolBytes: 256 * 2 ** 20, logFileBytes: 256 * 2 ** 20 },
    extraArgs: ['--rpl-semi-sync-master-enabled=OFF', '--rpl-semi-sync-master-wait-point=AFTER_SYNC', `--rpl-semi-sync-master-timeout=${SEMI_SYNC_TIMEOUT_MS}`, '--max-connections=200'],
  });
  let stack: LocalStack | undefined;
  const results: Record<string, unknown> = {
    machine: machine(),
    parameters: {
      quick: QUICK,
      runs: RUNS,
      secondsPerTrial: SECONDS,
      threads: THREADS,
      probesPerRun: PROBES,
      primary: { ...DURABILITY, rpl_semi_sync_master_wait_point: 'AFTER_SYNC', rpl_semi_sync_master_timeout: SEMI_SYNC_TIMEOUT_MS, rpl_semi_sync_master_enabled: 'ON for lossless trials, OFF for async ones', innodb_buffer_pool_size: '256M' },
      agent: { process: 'squirrel agent (child process)', lossless: { async: 'off', lossless: 'strict' }, chunkDefaults: { maxBytes: '8 MiB', maxAgeMs: defaults.chunkMaxAgeMs, uploadConcurrency: 4 } },
      load: 'per thread: its own connection, single-row autocommit INSERT INTO bench.t (k, pad) in a loop',
      price: { usdPer1000Puts: USD_PER_1000_PUTS, region: 'us-east-1', secondsPerMonth: SECONDS_PER_MONTH },
    },
  };
  try {
    stack = await startLocalStack({ clusterId: 'bench' });
    for (const [k, v] of Object.entries(stack.env)) if (k.startsWith('AWS_')) process.env[k] = v;
    const e = { server, stack };
    await server.query('CREATE DATABASE bench');
    await server.query('CREATE TABLE bench.t (id BIGINT PRIMARY KEY AUTO_INCREMENT, k INT, pad CHAR(120))');
    say(`warm-up: 8 threads for ${QUICK ? 2 : 5} s, no agent`);
    await load(server, 8, QUICK ? 2 : 5);

    const trials: Trial[] = [];
    const probes: Probe[] = [];
    for (let run = 1; run <= RUNS; run++) {
      for (const threads of THREADS) {
        // alternate which mode goes first, so neither always meets a warmer server
        for (const mode of run % 2 === 1 ? MODES : [...MODES].reverse()) {
          const t = await trial(e, run, mode, threads);
          trials.push(t);
          const waits = t.semiSync ? `; semi-sync yes/no ${t.semiSync.yesTx}/${t.semiSync.noTx}, ${t.semiSync.waits} waits of ${t.semiSync.waitMsMean.toFixed(1)} ms, ${t.semiSync.waitingAtOnce.toFixed(2)} at once` : '';
          say(`run ${run} ${String(threads).padStart(2)} threads ${mode.padEnd(8)}: ${t.txPerSecond.toFixed(0)} tx/s, p50 ${t.p50Ms.toFixed(1)} ms, p99 ${t.p99Ms.toFixed(1)} ms, ${t.putsPerSecond.toFixed(1)} PUT/s, ${t.commitsPerChunk.toFixed(1)} commits/chunk, chunk p50 ${t.chunkBytes.p50} B${waits}`);
        }
      }
      const lossless = trials.filter((t) => t.run === run && t.mode === 'lossless');
      const sizes = lossless.map((t) => t.chunkBytes.p50);
      const like = (await chunksOf(e, lossless[lossless.length - 1]!.clusterId))[0]!.key;
      const p = await probe(e, run, Math.max(1, Math.round(median(sizes))), like);
      probes.push(p);
      say(`run ${run} unloaded, ${PROBES} each: PUT of ${p.putBytes} B p50 ${p.putP50Ms.toFixed(1)} ms, p99 ${p.putP99Ms.toFixed(1)} ms; position write p50 ${p.advanceP50Ms.toFixed(1)} ms, p99 ${p.advanceP99Ms.toFixed(1)} ms`);
    }

    const probeMedian = {
      putBytes: median(probes.map((p) => p.putBytes)),
      putP50Ms: median(probes.map((p) => p.putP50Ms)),
      putP99Ms: median(probes.map((p) => p.putP99Ms)),
      advanceP50Ms: median(probes.map((p) => p.advanceP50Ms)),
      advanceP99Ms: median(probes.map((p) => p.advanceP99Ms)),
    };
    const targetMs = 2 * (probeMedian.putP99Ms + probeMedian.advanceP99Ms);
    const cells = THREADS.flatMap((threads) =>
      MODES.map((mode) => {
        const ts = trials.filter((t) => t.threads === threads && t.mode === mode);
        const putsPerSecond = median(ts.map((t) => t.putsPerSecond));
        return {
          threads,
          mode,
          p50Ms: median(ts.map((t) => t.p50Ms)),
          p99Ms: median(ts.map((t) => t.p99Ms)),
          txPerSecond: median(ts.map((t) => t.txPerSecond)),
          putsPerSecond,
          putUsdPerMonth: putUsdPerMonth(putsPerSecond),
          commitsPerChunk: median(ts.map((t) => t.commitsPerChunk)),
          chunkBytesP50: median(ts.map((t) => t.chunkBytes.p50)),
        };
      }),
    );
    const overhead = THREADS.map((threads) => {
      const a = cells.find((c) => c.threads === threads && c.mode === 'async')!;
      const l = cells.find((c) => c.threads === threads && c.mode === 'lossless')!;
      const p99OverheadMs = l.p99Ms - a.p99Ms;
      return { threads, p99OverheadMs, p50OverheadMs: l.p50Ms - a.p50Ms, ratioToTarget: p99OverheadMs / targetMs, met: p99OverheadMs <= targetMs, throughputRatio: l.txPerSecond / a.txPerSecond };
    });
    say('where a lossless commit\'s time goes (agent in process, PUTs timed; medians per commit):');
    const breakdowns: Breakdown[] = [];
    for (const threads of THREADS) {
      const b = await breakdown(e, threads);
      breakdowns.push(b);
      say(`   ${String(threads).padStart(2)} threads: ${b.txPerSecond.toFixed(0)} tx/s, ${b.commitsPerChunk.toFixed(1)} commits/chunk (p50 ${b.chunkCommits.p50}, p90 ${b.chunkCommits.p90}, max ${b.chunkCommits.max}, ${(b.chunkCommits.singleShare * 100).toFixed(0)} % of chunks hold one); commit ${b.latencyMs.toFixed(1)} ms = until its PUT starts ${b.untilPutMs.toFixed(1)} + PUT ${b.putMs.toFixed(1)} + position write, ack, wake-up ${b.afterPutMs.toFixed(1)}`);
    }
    Object.assign(results, { breakdowns, trials, probes, median: { cells, probe: probeMedian }, target: { what: 'lossless p99 - async p99 <= 2 x (PUT p99 + position write p99)', targetMs, byThreads: overhead } });

    say();
    say(`median of ${RUNS} run(s), ${SECONDS} s per trial:`);
    say('| threads | mode | p50 ms | p99 ms | tx/s | PUT/s | PUT $/month |');
    say('|---:|---|---:|---:|---:|---:|---:|');
    for (const c of cells) say(`| ${c.threads} | ${c.mode} | ${round(c.p50Ms)} | ${round(c.p99Ms)} | ${c.txPerSecond.toFixed(0)} | ${round(c.putsPerSecond)} | ${c.putUsdPerMonth.toFixed(2)} |`);
    say(`PUT of ${probeMedian.putBytes} B: p50 ${round(probeMedian.putP50Ms)} ms, p99 ${round(probeMedian.putP99Ms)} ms; position write: p50 ${round(probeMedian.advanceP50Ms)} ms, p99 ${round(probeMedian.advanceP99Ms)} ms; target ${round(targetMs)} ms`);
    for (const o of overhead) say(`${o.threads} threads: p99 overhead ${round(o.p99OverheadMs)} ms = ${o.ratioToTarget.toFixed(2)}x the target (${o.met ? 'met' : 'NOT met'}); lossless/async throughput ${o.throughputRatio.toFixed(2)}`);
  } catch (err) {
    say(`failed; the end of the server's error log (${server.dir}):\n${server.errorLog().trimEnd().split('\n').slice(-30).join('\n')}`);
    throw err;
  } finally {
    const path = writeResults(QUICK ? 'lossless-quick' : 'lossless', results);
    say(`results: ${path}`);
    await server.stop();
    await stack?.stop();
  }
}

await main();
