import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { buildStreamer } from '../../../agent/cli/agent.js';
import { compareWithServer } from '../../../agent/local/binlog-compare.js';
import { MariaDbServer } from '../../../agent/server/mariadb.js';
import { silentLogger } from '../../../agent/log.js';
import { sleep } from '../../../agent/retry.js';
import { replayViaFakePrimary } from '../../../agent/serve/replay.js';
import { startFakePrimary, type FakePrimary, type FakePrimaryOptions } from '../../../agent/serve/fake-primary.js';
import { planTimeline, readTimelineInput } from '../../../agent/serve/timeline.js';
import { ClusterStateRepo } from '../../../agent/cluster/repo.js';
import { localObjectPath } from '../../harness/damage.js';
import { waitCaughtUp } from '../../harness/streaming.js';
import { checksums, gtidVariable, SCHEMA, streamedSourceFixture, type StreamedSource } from './source.js';

const USER = 'replicator';
const PASSWORD = 'r3pl-secret';

function serve(src: StreamedSource, extra: Partial<FakePrimaryOptions> = {}): Promise<FakePrimary> {
  return startFakePrimary({
    objects: src.objects,
    stateStore: src.stateStore,
    prefix: '',
    clusterId: src.config.clusterId,
    user: USER,
    password: PASSWORD,
    log: silentLogger,
    ...extra,
  });
}

function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 60_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/** The GTID halfway through a single-domain position such as 0-1-500. */
function midGtid(end: string): string {
  const [d, srv, seq] = end.split('-');
  return `${d}-${srv}-${Math.floor(Number(seq) / 2)}`;
}

type SlaveStatus = Record<string, string | number | null>;

async function slaveStatus(replica: MariaDbServer): Promise<SlaveStatus> {
  const [row] = await replica.query<SlaveStatus[]>('SHOW SLAVE STATUS');
  return row ?? {};
}

/** Waits until the replica has applied `gtid` (or shows an error); returns its last status. */
async function waitApplied(replica: MariaDbServer, gtid: string, timeoutMs = 40_000): Promise<SlaveStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await slaveStatus(replica);
    const pos = await gtidVariable(replica, 'gtid_slave_pos');
    if (pos === gtid) return status;
    if (status.Last_IO_Error || status.Last_SQL_Error) return status;
    if (Date.now() > deadline) throw new Error(`replica at '${pos}', not '${gtid}' after ${timeoutMs} ms: ${JSON.stringify(status)}`);
    await sleep(100);
  }
}

async function startReplica(src: StreamedSource, primary: FakePrimary, opts: { serverId: number; startGtid?: string; heartbeatSeconds?: number }): Promise<MariaDbServer> {
  const replica = await MariaDbServer.start({ serverId: opts.serverId });
  try {
    if (opts.startGtid !== undefined) {
      for (const sql of SCHEMA) await replica.query(sql);
      await replica.query('RESET MASTER');
      await replica.query(`SET GLOBAL gtid_slave_pos = '${opts.startGtid}'`);
    }
    await replica.query(
      `CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=${primary.port}, MASTER_USER='${USER}', MASTER_PASSWORD='${PASSWORD}', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1` +
        (opts.heartbeatSeconds === undefined ? '' : `, MASTER_HEARTBEAT_PERIOD=${opts.heartbeatSeconds}`),
    );
    await replica.query('START SLAVE');
    return replica;
  } catch (err) {
    await replica.stop();
    throw err;
  }
}

describe('fake primary', () => {
  // 4 KiB chunks: each binlog file has several, whatever the machine's speed (the jump test needs them)
  const source = streamedSourceFixture('serve-basic', 120, { chunkMaxBytes: 4 * 1024 });

  it('serves mariadb-binlog --read-from-remote-server --raw files equal byte for byte to the server\'s binlog', async (t) => {
    const src = source();
    const primary = await serve(src);
    const dir = mkdtempSync(join(tmpdir(), 'sq-raw-'));
    t.after(async () => {
      await primary.stop();
      rmSync(dir, { recursive: true, force: true });
    });
    const serverFiles = await src.server.binlogFiles();
    const first = serverFiles[0]!.split('/').pop()!;
    const r = await run('mariadb-binlog', [
      '--read-from-remote-server',
      '--raw',
      '--to-last-log',
      '--host=127.0.0.1',
      `--port=${primary.port}`,
      `--user=${USER}`,
      `--password=${PASSWORD}`,
      `--result-file=${dir}/`,
      first,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const got = new Map(readdirSync(dir).sort().map((f) => [f, { offset: 0, bytes: readFileSync(join(dir, f)) }]));
    assert.deepEqual([...got.keys()], serverFiles.map((f) => f.split('/').pop()));
    const cmp = await compareWithServer(got, serverFiles);
    for (const c of cmp) {
      assert.equal(c.firstDifference, -1, `${c.file} differs at byte ${c.firstDifference}`);
      assert.equal(c.rebuiltBytes, c.serverBytes, `${c.file}: ${c.rebuiltBytes} bytes served, the server has ${c.serverBytes}`);
    }
  });

  it('a real replica applies the multi-table workload through the fake primary and ends with equal tables', async (t) => {
    const src = source();
    const primary = await serve(src);
    t.after(() => primary.stop());
    const replica = await startReplica(src, primary, { serverId: 2 });
    t.after(() => replica.stop());
    const status = await waitApplied(replica, src.gtidAtEnd);
    assert.equal(status.Last_IO_Error, '', String(status.Last_IO_Error));
    assert.equal(status.Last_SQL_Error, '', String(status.Last_SQL_Error));
    assert.deepEqual(await checksums(replica), await checksums(src.server));
  });

  it('replays from a mid-stream GTID position into a server with parallel appliers, and stops at the target', async (t) => {
    const src = source();
    const replica = await MariaDbServer.start({ serverId: 3 });
    t.after(() => replica.stop());
    // the server holds the schema already, as a base backup taken at gtidAfterSchema would
    for (const sql of SCHEMA) await replica.query(sql);
    await replica.query('RESET MASTER');
    const mid = midGtid(src.gtidAtEnd);
    const result = await replayViaFakePrimary({
      server: replica,
      serverName: `127.0.0.1:${replica.port}`,
      primary: { objects: src.objects, stateStore: src.stateStore, prefix: '', clusterId: src.config.clusterId, readAheadChunks: 4 },
      startGtid: src.gtidAfterSchema,
      target: mid,
      parallelThreads: 4,
      timeoutMs: 60_000,
      log: silentLogger,
    });
    assert.equal(result.appliedGtid, mid);
    // then on to the end, from where it stopped
    await replayViaFakePrimary({
      server: replica,
      serverName: `127.0.0.1:${replica.port}`,
      primary: { objects: src.objects, stateStore: src.stateStore, prefix: '', clusterId: src.config.clusterId },
      target: src.gtidAtEnd,
      timeoutMs: 60_000,
      log: silentLogger,
    });
    assert.deepEqual(await checksums(replica), await checksums(src.server));
    const [status] = await replica.query<Record<string, unknown>[]>('SHOW SLAVE STATUS');
    assert.equal(status, undefined, 'replication is left unconfigured');
  });

  it('a replica whose start lies deep in a file is not sent, nor read, the chunks of that file before it', async (t) => {
    const src = source();
    const [d, srv, seq] = src.gtidAtEnd.split('-');
    const deep = `${d}-${srv}-${Math.floor(Number(seq) * 0.6)}`;
    // the chunks whose whole end position the start holds, and the file the start lies in
    const input = await readTimelineInput(src.objects, src.stateStore, '', src.config.clusterId);
    const chunks = planTimeline(input!).segments.flatMap((s) => s.chunks);
    const heldByStart: boolean[] = [];
    for (const c of chunks) {
      const at = (await src.objects.head(c.key))?.metadata['gtid-pos'] ?? '';
      heldByStart.push(at === '' || Number(at.split('-')[2]) <= Number(deep.split('-')[2])); // '': before the first GTID
    }
    const startFile = chunks[heldByStart.indexOf(false)]!.file;
    const jumpable = chunks.filter((c, i) => heldByStart[i] && c.file === startFile).length - 1; // not the file's first chunk
    t.diagnostic(`the start file has ${jumpable} chunks to jump over`);
    assert.ok(jumpable >= 3, `the fixture's start file has ${jumpable} chunks to jump over`);

    const replica = await MariaDbServer.start({ serverId: 6 });
    t.after(() => replica.stop());
    for (const sql of SCHEMA) await replica.query(sql);
    await replica.query('RESET MASTER');
    // the replica's data reaches `deep`, as a base backup's would
    await replayViaFakePrimary({
      server: replica,
      serverName: `127.0.0.1:${replica.port}`,
      primary: { objects: src.objects, stateStore: src.stateStore, prefix: '', clusterId: src.config.clusterId },
      startGtid: src.gtidAfterSchema,
      target: deep,
      timeoutMs: 60_000,
      log: silentLogger,
    });
    const primary = await serve(src);
    t.after(() => primary.stop());
    await replica.query(`CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=${primary.port}, MASTER_USER='${USER}', MASTER_PASSWORD='${PASSWORD}', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1`);
    await replica.query('START SLAVE');
    const status = await waitApplied(replica, src.gtidAtEnd);
    assert.equal(status.Last_IO_Error, '', String(status.Last_IO_Error));
    assert.equal(status.Last_SQL_Error, '', String(status.Last_SQL_Error));
    assert.deepEqual(await checksums(replica), await checksums(src.server));
    // read: the start file's first chunk, then from the chunk holding the start on
    const fromStartFile = chunks.length - chunks.findIndex((c) => c.file === startFile);
    const ended = primary.nextDumpEnd();
    await replica.query('STOP SLAVE');
    assert.equal((await ended).chunksRead, fromStartFile - jumpable);
  });

  it('with --until gtid: the replica gets the binlog up to that transaction, then only heartbeats', async (t) => {
    const src = source();
    const mid = midGtid(src.gtidAtEnd);
    const primary = await serve(src, { until: { gtid: mid } });
    t.after(() => primary.stop());
    const replica = await startReplica(src, primary, { serverId: 4, heartbeatSeconds: 0.2 });
    t.after(() => replica.stop());
    const status = await waitApplied(replica, mid);
    assert.equal(status.Last_IO_Error, '');
    await sleep(1500);
    const [beats] = await replica.query<{ Value: string }[]>("SHOW STATUS LIKE 'Slave_received_heartbeats'");
    assert.ok(Number(beats?.Value) >= 3, `heartbeats received: ${beats?.Value}`);
    assert.equal(await gtidVariable(replica, 'gtid_slave_pos'), mid);
    assert.equal((await slaveStatus(replica)).Slave_IO_Running, 'Yes');
  });

  it('with --follow: a connected replica receives transactions committed after it caught up', async (t) => {
    const src = source();
    const primary = await serve(src, { follow: true, followPollMs: 100 });
    t.after(() => primary.stop());
    const replica = await startReplica(src, primary, { serverId: 5 });
    t.after(() => replica.stop());
    await waitApplied(replica, src.gtidAtEnd);
    const { streamer, close } = buildStreamer(src.config, silentLogger, 'oldest');
    const running = streamer.run();
    try {
      for (let i = 0; i < 30; i++) {
        await src.server.query(`UPDATE app.accounts SET note = 'follow ${i}' WHERE id = ${i}`);
        if (i === 10) await src.server.query('FLUSH BINARY LOGS');
      }
      await waitCaughtUp(src.server, new ClusterStateRepo(src.stateStore, src.config.clusterId));
    } finally {
      await streamer.stop();
      await running;
      await close();
    }
    const end = await gtidVariable(src.server, 'gtid_binlog_pos');
    const status = await waitApplied(replica, end);
    assert.equal(status.Last_IO_Error, '');
    assert.deepEqual(await checksums(replica), await checksums(src.server));
  });

  // last: it damages the source's chunks
  it('a damaged chunk stops the replica with an IO error that names the object', async (t) => {
    const src = source();
    const keys: string[] = [];
    for await (const o of src.objects.list(`${src.config.clusterId}/binlog/`)) keys.push(o.key);
    const victim = keys[Math.floor(keys.length / 2)]!;
    const path = localObjectPath(src.stack, victim);
    const bytes = readFileSync(path);
    const at = Math.floor(bytes.length / 2);
    bytes[at] = bytes[at]! ^ 0x5a;
    writeFileSync(path, bytes);
    const primary = await serve(src);
    t.after(() => primary.stop());
    const replica = await startReplica(src, primary, { serverId: 6 });
    t.after(() => replica.stop());
    const deadline = Date.now() + 30_000;
    let status = await slaveStatus(replica);
    while (!status.Last_IO_Error && Date.now() < deadline) {
      await sleep(100);
      status = await slaveStatus(replica);
    }
    t.diagnostic(String(status.Last_IO_Error));
    assert.equal(status.Last_IO_Errno, 1236);
    assert.match(String(status.Last_IO_Error), new RegExp(victim.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    assert.match(String(status.Last_IO_Error), /sha-256 mismatch/);
    assert.deepEqual(primary.failures().map((f) => f.object), [victim]);
    // what came before the damaged chunk was applied
    assert.notEqual(await gtidVariable(replica, 'gtid_slave_pos'), '');
  });
});
