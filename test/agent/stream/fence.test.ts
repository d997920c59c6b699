import assert from 'node:assert/strict';
import { createServer, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import mysql from 'mysql2/promise';
import { objectStoreFor } from '../../../agent/cli/agent.js';
import { FencedError } from '../../../agent/errors.js';
import { silentLogger } from '../../../agent/log.js';
import { MemoryObjectStore } from '../../../agent/store/memory-object-store.js';
import { MemoryStateStore } from '../../../agent/store/memory-state-store.js';
import type { Chunk } from '../../../agent/stream/chunker.js';
import { Shipper } from '../../../agent/stream/shipper.js';
import { ExitCode } from '../../../agent/cli/command.js';
import { ClusterStateRepo } from '../../../agent/cluster/repo.js';
import { binlogPrefix } from '../../../agent/keys.js';
import type { MariaDbServer } from '../../../agent/server/mariadb.js';
import { sleep } from '../../../agent/retry.js';
import { openStateStore } from '../../../agent/wiring.js';
import { AgentProcess } from '../../../agent/local/agent-process.js';
import { withMariaDb } from '../../harness/mariadb.js';
import { withLocalStack } from '../../harness/stack.js';
import { agentConfig, waitCaughtUp } from '../../harness/streaming.js';

/** From the claim to the server refusing writes: the agent heartbeats every 200 ms; the machine is shared. */
const READ_ONLY_BOUND_MS = 2_500;
/** The gate opens this long after the claim: later than READ_ONLY_BOUND_MS, so an agent that waits for S3 before fencing fails the bound. */
const GATE_OPENS_AFTER_MS = 4_000;
/** From the claim to the agent's exit: its fence bound (stopTimeoutMs, 10 s by default) plus slack. */
const EXIT_BOUND_MS = 13_000;

/**
 * An HTTP proxy in front of the local S3 that, while closed, holds every write (PUT, POST) without
 * forwarding or answering it: S3 is unreachable for uploads. `open()` forwards the held requests
 * whose client is still waiting, as a slow S3 finally receiving their bodies would, and passes
 * every later request. A request the client aborted while held never reaches S3, as an upload
 * whose body never fully arrived.
 */
async function startS3Gate(t: TestContext, target: string) {
  const upstream = new URL(target);
  let closed = false;
  const held: { forward: () => void; res: ServerResponse; aborted: () => boolean }[] = [];
  let forwardedAfterHold = 0;
  let abortedWhileHeld = 0;
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (b: Buffer) => parts.push(b));
    req.on('end', () => {
      const body = Buffer.concat(parts);
      const forward = () => {
        const out = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        });
        out.on('error', () => req.socket.destroy());
        out.end(body);
      };
      if (closed && (req.method === 'PUT' || req.method === 'POST')) {
        let gone = false;
        res.on('close', () => (gone = !res.writableFinished));
        held.push({ forward, res, aborted: () => gone || req.socket.destroyed });
        return;
      }
      forward();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => (closed = true),
    get held() {
      return held.length;
    },
    open: () => {
      closed = false;
      for (const h of held.splice(0)) {
        if (h.aborted()) abortedWhileHeld++;
        else {
          forwardedAfterHold++;
          h.forward();
        }
      }
    },
    stats: () => ({ forwardedAfterHold, abortedWhileHeld }),
  };
}

/** An application account: no global privilege, so read_only binds it (unlike root, which has READ_ONLY ADMIN). */
async function appAccount(server: MariaDbServer): Promise<() => Promise<mysql.Connection>> {
  await server.query('CREATE DATABASE app');
  await server.query('CREATE TABLE app.t (id INT PRIMARY KEY AUTO_INCREMENT, v TEXT)');
  for (const host of ['%', 'localhost']) {
    await server.query(`CREATE USER 'app'@'${host}' IDENTIFIED BY 'app-pw'`);
    await server.query(`GRANT ALL ON app.* TO 'app'@'${host}'`);
  }
  const { hostname, port } = new URL(server.url);
  return () => mysql.createConnection({ host: hostname, port: Number(port), user: 'app', password: 'app-pw' });
}

/** An application that keeps committing, reconnecting when its session is ended; records when each commit was acknowledged. */
function startWriter(connect: () => Promise<mysql.Connection>) {
  const commits: number[] = [];
  const errors: string[] = [];
  let running = true;
  const done = (async () => {
    let conn: mysql.Connection | undefined;
    while (running) {
      try {
        conn ??= await connect();
        await conn.query('INSERT INTO app.t (v) VALUES (?)', ['w'.repeat(200)]);
        commits.push(Date.now());
      } catch (err) {
        errors.push((err as Error).message);
        if ((err as { fatal?: boolean }).fatal) {
          conn?.destroy();
          conn = undefined;
        }
        await sleep(50);
      }
      await sleep(10);
    }
    conn?.destroy();
  })();
  return {
    commits,
    errors,
    stop: async () => {
      running = false;
      await done;
    },
  };
}

/**
 * `server.query`, again on a new connection when the pooled one was ended: the fence ends every
 * client session, the test's own included.
 */
async function ask<T>(server: MariaDbServer, sql: string, params?: unknown[]): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await server.query<T>(sql, params);
    } catch (err) {
      if (!(err as { fatal?: boolean }).fatal || attempt >= 3) throw err;
    }
  }
}

async function readOnly(server: MariaDbServer): Promise<boolean> {
  const [row] = await ask<{ ro: number }[]>(server, 'SELECT @@global.read_only AS ro');
  return Number(row!.ro) === 1;
}

async function keysOf(config: ReturnType<typeof agentConfig>, epoch: number): Promise<Set<string>> {
  const keys = new Set<string>();
  for await (const o of objectStoreFor(config).list(binlogPrefix('', config.clusterId, epoch))) keys.add(o.key);
  return keys;
}

/** Waits for `cond`, polling; returns the milliseconds since `from` when it held (undefined: not within `timeoutMs`). */
async function within(from: number, timeoutMs: number, cond: () => Promise<boolean> | boolean): Promise<number | undefined> {
  while (Date.now() - from < timeoutMs) {
    if (await cond()) return Date.now() - from;
    await sleep(25);
  }
  return (await cond()) ? Date.now() - from : undefined;
}

/** The control plane claims epoch 2 at once (force: the test is the operator who knows the old primary must stop). */
async function claimEpoch2(server: MariaDbServer, repo: ClusterStateRepo): Promise<number> {
  const [status] = await server.query<{ File: string; Position: number }[]>('SHOW MASTER STATUS');
  const claimAt = Date.now();
  await repo.claimNextEpoch(1, { file: status!.File, pos: Number(status!.Position), gtid: '' }, claimAt, { force: true });
  return claimAt;
}

/** The agent's last log line, which says why it is fenced and what it did to the server. */
function fenceLine(agent: AgentProcess): string {
  const line = agent.log
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { msg?: string })
    .find((l) => l.msg?.includes('the server must not rejoin as it is'));
  assert.ok(line?.msg, `no fence report in the log:\n${agent.log}`);
  return line.msg;
}

describe('a fenced agent writes nothing more', () => {
  it('puts its server read-only first, ends client sessions, uploads nothing more into its epoch and exits with code 4, while S3 is unreachable', async (t) => {
    const server = await withMariaDb(t);
    const stack = await withLocalStack(t);
    const gate = await startS3Gate(t, stack.s3.endpoint);
    const config = agentConfig(server, stack, 'fence-s3-down');
    const repo = new ClusterStateRepo(openStateStore(config), config.clusterId);
    const connect = await appAccount(server);
    const agent = AgentProcess.start({
      ...stack.env,
      SQUIRREL_S3_ENDPOINT: gate.endpoint,
      SQUIRREL_CLUSTER_ID: config.clusterId,
      SQUIRREL_MYSQL_URL: server.url,
      SQUIRREL_AGENT_ID: 'old-primary',
      SQUIRREL_HEARTBEAT_INTERVAL_MS: '200',
      SQUIRREL_LEASE_MS: '3000',
      SQUIRREL_CHUNK_MAX_AGE_MS: '50',
    });
    t.after(() => agent.kill9());
    const writer = startWriter(connect);
    t.after(() => writer.stop());
    const idle = await connect();
    t.after(() => idle.destroy());
    const [[idleRow]] = await idle.query<mysql.RowDataPacket[]>('SELECT CONNECTION_ID() AS id');
    const idleId = Number(idleRow!.id);

    await waitCaughtUp(server, repo);
    // GIVEN S3 stops taking uploads while the application keeps committing
    gate.close();
    assert.ok((await within(Date.now(), 10_000, () => gate.held > 0)) !== undefined, `no upload reached the gate:\n${agent.log}`);
    await sleep(500);
    const before = await keysOf(config, 1);
    assert.equal(await readOnly(server), false);

    // WHEN the control plane claims epoch 2
    const claimAt = await claimEpoch2(server, repo);
    setTimeout(() => gate.open(), GATE_OPENS_AFTER_MS).unref();

    // THEN the server refuses writes within the bound, though S3 never answered
    const readOnlyAfter = await within(claimAt, READ_ONLY_BOUND_MS, () => readOnly(server));
    t.diagnostic(`read-only ${readOnlyAfter} ms after the claim`);
    assert.ok(readOnlyAfter !== undefined, `the server was not read-only within ${READ_ONLY_BOUND_MS} ms of the claim:\n${agent.log}`);
    const readOnlyAt = claimAt + readOnlyAfter;
    // the idle application session was ended
    const idleGone = await within(claimAt, 5_000, async () => {
      const rows = await ask<{ ID: number }[]>(server, 'SELECT ID FROM information_schema.PROCESSLIST WHERE ID = ?', [idleId]);
      return rows.length === 0;
    });
    assert.ok(idleGone !== undefined, 'the idle client session was not ended');
    await assert.rejects(idle.query('SELECT 1'));
    // the agent exits within its bound with the fenced exit code
    const code = await Promise.race([agent.exited(), sleep(EXIT_BOUND_MS).then(() => 'still running')]);
    const exitedAfter = Date.now() - claimAt;
    t.diagnostic(`exited ${exitedAfter} ms after the claim with ${code}`);
    assert.equal(code, ExitCode.fenced, agent.log);
    const report = fenceLine(agent);
    t.diagnostic(report);
    assert.match(report, /^fenced: cluster fence-s3-down moved to epoch 2; this agent holds epoch 1; uploaded nothing more \(\d+ chunk\(s\) dropped\), put the server 127\.0\.0\.1:\d+ read-only .*ended [1-9]\d* client session\(s\)/);
    // no epoch-1 object appeared after the claim, even once S3 took uploads again
    if (Date.now() - claimAt < GATE_OPENS_AFTER_MS + 1000) await sleep(GATE_OPENS_AFTER_MS + 1000 - (Date.now() - claimAt));
    const after = await keysOf(config, 1);
    const appeared = [...after].filter((k) => !before.has(k));
    t.diagnostic(`gate: ${JSON.stringify(gate.stats())}`);
    assert.deepEqual(appeared, [], 'epoch-1 objects appeared after the claim');
    // the application took no commit once the server was read-only
    await writer.stop();
    const late = writer.commits.filter((at) => at > readOnlyAt + 50);
    assert.deepEqual(late, [], `commits acknowledged after read-only: ${late.length}`);
    assert.ok(writer.errors.some((e) => /read-only|read_only/i.test(e)), writer.errors.slice(-5).join('\n'));
    assert.equal((await repo.read())!.epoch, 2);
  });

  it('with fenceAction shutdown, stops its server and exits with code 4', async (t) => {
    const server = await withMariaDb(t);
    const stack = await withLocalStack(t);
    const config = agentConfig(server, stack, 'fence-shutdown');
    const repo = new ClusterStateRepo(openStateStore(config), config.clusterId);
    const connect = await appAccount(server);
    const agent = AgentProcess.start({
      ...stack.env,
      SQUIRREL_CLUSTER_ID: config.clusterId,
      SQUIRREL_MYSQL_URL: server.url,
      SQUIRREL_AGENT_ID: 'old-primary',
      SQUIRREL_HEARTBEAT_INTERVAL_MS: '200',
      SQUIRREL_FENCE_ACTION: 'shutdown',
    });
    t.after(() => agent.kill9());
    const writer = startWriter(connect);
    t.after(() => writer.stop());
    await waitCaughtUp(server, repo);
    const claimAt = await claimEpoch2(server, repo);
    const stoppedAfter = await within(claimAt, 10_000, () => !server.running);
    t.diagnostic(`server stopped ${stoppedAfter} ms after the claim`);
    assert.ok(stoppedAfter !== undefined, `the server still runs:\n${agent.log}`);
    const code = await Promise.race([agent.exited(), sleep(EXIT_BOUND_MS).then(() => 'still running')]);
    assert.equal(code, ExitCode.fenced, agent.log);
    const report = fenceLine(agent);
    t.diagnostic(report);
    assert.match(report, /^fenced: cluster fence-shutdown moved to epoch 2; .*shut the server 127\.0\.0\.1:\d+ down/);
  });
});

function chunk(start: number, size = 10): Chunk {
  return { file: 'f.000001', start, end: start + size, body: Buffer.alloc(size, 1), sizeBytes: size, firstGtid: '', lastGtid: '', firstTs: 1, lastTs: 1, events: 1, endsFile: false, gtidPos: `0-1-${start}`, serverIds: [1] };
}

/** An object store whose puts wait until released (S3 slow), or fail as unavailable (S3 down). */
class StalledStore extends MemoryObjectStore {
  puts = 0;
  failing = false;
  private readonly waiting: (() => void)[] = [];
  override async putIfAbsent(key: string, body: Buffer, sha256: string, metadata: Record<string, string>): Promise<void> {
    this.puts++;
    if (this.failing) throw Object.assign(new Error('injected outage'), { code: 'ECONNREFUSED' });
    await new Promise<void>((resolve) => this.waiting.push(resolve));
    return super.putIfAbsent(key, body, sha256, metadata);
  }

  release(): void {
    this.waiting.splice(0).forEach((r) => r());
  }
}

describe('Shipper.fence', () => {
  async function setup(objects: StalledStore) {
    const state = new ClusterStateRepo(new MemoryStateStore(), 'c1');
    await state.claimFirstEpoch({ file: 'f.000001', pos: 4, gtid: '' }, 'me', Date.now(), 60_000);
    const shipper = new Shipper({ objects, state, prefix: '', clusterId: 'c1', epoch: 1, holder: 'me', durableSeq: 0, maxInFlight: 2, maxHeldBytes: 1000, log: silentLogger, backoff: { baseMs: 5, maxMs: 5 } });
    return { state, shipper };
  }

  it('drops what it holds, releases a waiting submit and drain at once, and advances over nothing that lands later', async () => {
    const objects = new StalledStore();
    const { state, shipper } = await setup(objects);
    await shipper.submit(chunk(4));
    await shipper.submit(chunk(14));
    const waiting = shipper.submit(chunk(24)); // maxInFlight reached: waits
    const draining = shipper.drain();
    const fenced = new FencedError('c1', 1, 2);
    const dropped = shipper.fence(fenced);
    assert.deepEqual(dropped.map((c) => c.seq), [1, 2]);
    await assert.rejects(waiting, FencedError);
    await assert.rejects(draining, FencedError);
    await assert.rejects(shipper.submit(chunk(34)), FencedError);
    assert.deepEqual(shipper.unstored(), []);
    objects.release(); // the stalled uploads finish after the fence
    await sleep(20);
    assert.equal((await state.read())?.durableSeq, 0, 'advanced over an upload that finished after the fence');
  });

  it('ends the retries of an upload', async () => {
    const objects = new StalledStore();
    objects.failing = true;
    const { shipper } = await setup(objects);
    await shipper.submit(chunk(4));
    await sleep(30);
    assert.ok(objects.puts > 1, 'the upload was not retried');
    shipper.fence(new FencedError('c1', 1, 2));
    await sleep(10);
    const after = objects.puts;
    await sleep(50);
    assert.equal(objects.puts, after, 'the upload was retried after the fence');
  });
});
