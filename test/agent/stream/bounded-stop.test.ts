import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { TcpForwarder } from '../../../agent/local/tcp-forwarder.js';
import { sleep } from '../../../agent/retry.js';
import { ClusterStateRepo } from '../../../agent/cluster/repo.js';
import { openStateStore } from '../../../agent/wiring.js';
import { AgentProcess } from '../../../agent/local/agent-process.js';
import { runCli } from '../../harness/cli.js';
import { withMariaDb } from '../../harness/mariadb.js';
import { withLocalStack } from '../../harness/stack.js';
import { agentConfig, assertChunksRebuildBinlog, waitCaughtUp } from '../../harness/streaming.js';

/** The default `stopTimeoutMs`; the machine is shared, so the measured stop gets 3 s of slack. */
const DEFAULT_BOUND_MS = 10_000;
const SLACK_MS = 3_000;

const portOf = (endpoint: string) => Number(new URL(endpoint).port);

/** A store that accepts connections and never answers: requests hang instead of failing. */
async function blackHole(t: TestContext): Promise<{ host: string; port: number }> {
  const held = new Set<Socket>();
  const server = createServer((s) => {
    held.add(s);
    s.on('error', () => undefined);
    s.on('close', () => held.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    for (const s of held) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { host: '127.0.0.1', port: (server.address() as { port: number }).port };
}

/** A MariaDB server, the local stack, and the agent's paths to S3 and DynamoDB through forwarders the test can cut. */
async function setup(t: TestContext, clusterId: string) {
  const server = await withMariaDb(t);
  const stack = await withLocalStack(t);
  const s3 = await TcpForwarder.start({ host: '127.0.0.1', port: portOf(stack.s3.endpoint) });
  const ddb = await TcpForwarder.start({ host: '127.0.0.1', port: portOf(stack.dynamodb.endpoint) });
  t.after(() => Promise.all([s3.stop(), ddb.stop()]));
  const config = agentConfig(server, stack, clusterId);
  // the test itself reads the state directly, not through the paths it cuts
  const repo = new ClusterStateRepo(openStateStore(config), clusterId);
  const direct = { ...stack.env, SQUIRREL_CLUSTER_ID: clusterId, SQUIRREL_MYSQL_URL: server.url, SQUIRREL_AGENT_ID: 'stop-test', SQUIRREL_CHUNK_MAX_AGE_MS: '50' };
  const env = { ...direct, SQUIRREL_S3_ENDPOINT: `http://127.0.0.1:${s3.port}`, SQUIRREL_DYNAMODB_ENDPOINT: `http://127.0.0.1:${ddb.port}` };
  const agents: AgentProcess[] = [];
  const start = (extra: Record<string, string> = {}) => {
    const a = AgentProcess.start({ ...env, ...extra });
    agents.push(a);
    return a;
  };
  t.after(() => Promise.all(agents.map((a) => a.kill9())));
  await server.query('CREATE DATABASE app');
  await server.query('CREATE TABLE app.t (id INT PRIMARY KEY AUTO_INCREMENT, v TEXT)');
  const write = async (n: number) => {
    for (let i = 0; i < n; i++) await server.query('INSERT INTO app.t (v) VALUES (?)', ['z'.repeat(300)]);
  };
  return { server, stack, s3, ddb, config, repo, direct, start, write };
}

/** Waits until the agent process has said it is starting (its signal handlers are installed by then). */
async function started(agent: AgentProcess): Promise<void> {
  for (let i = 0; !/agent starting for cluster/.test(agent.log); i++) {
    assert.ok(i < 600, `the agent did not start:\n${agent.log}`);
    await sleep(50);
  }
}

/** SIGTERM, then how the process ended and how long it took (a process still running after 30 s is killed). */
async function stopTimed(t: TestContext, agent: AgentProcess): Promise<{ code: number | string; ms: number }> {
  const started = Date.now();
  const code = await agent.stop(30_000);
  const ms = Date.now() - started;
  t.diagnostic(`stopped in ${ms} ms with ${code}`);
  // the stop ended on its own: no request, timer or child was left to hold the process
  assert.doesNotMatch(agent.log, /something still holds the process/);
  return { code, ms };
}

/** The agent's JSON log line that reports a stop cut short. */
interface CutReport {
  msg: string;
  stage: string;
  unstored: { seq: number; key: string; uploaded: boolean }[];
  durable: { seq: number; file: string; end: number } | null;
  positionInFlight: { seq: number } | null;
}

function cutReport(agent: AgentProcess): CutReport {
  const line = agent.log
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { msg?: string })
    .find((l) => l.msg?.startsWith('stop cut short'));
  assert.ok(line, `no "stop cut short" log line:\n${agent.log}`);
  return line as CutReport;
}

/** With the stores back: a restarted agent makes everything durable, stops cleanly, and verify is clean. */
async function assertNothingLost(t: TestContext, env: ReturnType<typeof setup> extends Promise<infer S> ? S : never): Promise<void> {
  const again = env.start();
  await waitCaughtUp(env.server, env.repo, 60_000);
  const { code } = await stopTimed(t, again);
  assert.equal(code, 0, again.log);
  const state = (await env.repo.read())!;
  assert.equal(state.leaseHolder, '', 'a clean stop releases the lease');
  const verify = await runCli(['verify', '--json'], { env: env.direct });
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  assert.equal(JSON.parse(verify.stdout).ok, true);
  await assertChunksRebuildBinlog(t, env.server, env.config);
}

describe('a bounded stop', () => {
  it('exits within the bound with exit code 3 when S3 is unreachable, naming the chunks it did not store; a restart loses nothing', async (t) => {
    const env = await setup(t, 'stop-s3');
    const agent = env.start();
    await env.write(10);
    await waitCaughtUp(env.server, env.repo);
    env.s3.cut();
    await env.write(30);
    await sleep(1500); // chunks are cut and their uploads fail
    const before = (await env.repo.read())!;
    const { code, ms } = await stopTimed(t, agent);
    assert.equal(code, 3, agent.log);
    assert.ok(ms < DEFAULT_BOUND_MS + SLACK_MS, `took ${ms} ms`);
    const report = cutReport(agent);
    t.diagnostic(report.msg);
    assert.equal(report.stage, 'storing what it held');
    assert.ok(report.unstored.length > 0, report.msg);
    assert.equal(report.durable?.seq, before.durableSeq);
    assert.match(report.msg, /chunk\(s\) not stored: seq \d+ mariadb-bin\.\d+:\d+-\d+/);
    assert.match(report.msg, new RegExp(`the durable position stays at ${before.durable!.file.replace('.', '\\.')}:${before.durable!.end} \\(epoch 1, seq ${before.durableSeq}\\)`));
    assert.equal((await env.repo.read())!.durableSeq, before.durableSeq);
    env.s3.restore();
    await assertNothingLost(t, env);
  });

  it('exits within the bound with exit code 3 when DynamoDB stops answering; a restart loses nothing', async (t) => {
    const env = await setup(t, 'stop-ddb');
    const hole = await blackHole(t);
    const agent = env.start();
    await env.write(10);
    await waitCaughtUp(env.server, env.repo);
    await sleep(300); // the agent has had the answer to its last position write
    env.ddb.retarget(hole); // requests now hang rather than fail
    await env.write(30);
    await sleep(1500);
    const before = (await env.repo.read())!;
    const { code, ms } = await stopTimed(t, agent);
    assert.equal(code, 3, agent.log);
    assert.ok(ms < DEFAULT_BOUND_MS + SLACK_MS, `took ${ms} ms`);
    const report = cutReport(agent);
    assert.ok(report.unstored.length > 0, report.msg);
    assert.ok(report.unstored.some((c) => c.uploaded), `uploads to S3 worked, only the position write hung: ${report.msg}`);
    // a write cut off in flight may have landed: the report names both positions then
    assert.ok(report.durable?.seq === before.durableSeq || report.positionInFlight?.seq === before.durableSeq, report.msg);
    assert.match(report.msg, /the lease was not released/);
    env.ddb.retarget({ host: '127.0.0.1', port: portOf(env.stack.dynamodb.endpoint) });
    await assertNothingLost(t, env);
  });

  it('exits within the bound while still joining, when the stores are unreachable from the start', async (t) => {
    const env = await setup(t, 'stop-joining');
    const hole = await blackHole(t);
    // refused connections: the join's retries end at once
    env.s3.cut();
    env.ddb.cut();
    const refused = env.start();
    await started(refused);
    await sleep(1500);
    const first = await stopTimed(t, refused);
    assert.equal(first.code, 3, refused.log);
    assert.ok(first.ms < DEFAULT_BOUND_MS + SLACK_MS, `took ${first.ms} ms`);
    assert.equal(cutReport(refused).stage, 'joining the cluster');
    // a state store that never answers: the request in flight is aborted when the bound runs out
    env.ddb.restore();
    env.ddb.retarget(hole);
    const hung = env.start();
    await started(hung);
    await sleep(1500);
    const second = await stopTimed(t, hung);
    assert.equal(second.code, 3, hung.log);
    assert.ok(second.ms < DEFAULT_BOUND_MS + SLACK_MS, `took ${second.ms} ms`);
    assert.match(cutReport(hung).msg, /the durable position stays unchanged/);
    assert.equal(await env.repo.read(), undefined, 'nothing was written');
  });

  it('honours a shorter configured bound (SQUIRREL_STOP_TIMEOUT_MS=2000)', async (t) => {
    const env = await setup(t, 'stop-short');
    const hole = await blackHole(t);
    const agent = env.start({ SQUIRREL_STOP_TIMEOUT_MS: '2000' });
    await env.write(10);
    await waitCaughtUp(env.server, env.repo);
    env.s3.retarget(hole);
    await env.write(20);
    await sleep(1000);
    const { code, ms } = await stopTimed(t, agent);
    assert.equal(code, 3, agent.log);
    assert.ok(ms < 2000 + SLACK_MS, `took ${ms} ms`);
    assert.ok(cutReport(agent).unstored.length > 0);
    assert.match(agent.log, /giving up after 1600 ms/);
  });
});
