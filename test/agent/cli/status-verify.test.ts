import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { buildStreamer, objectStoreFor } from '../../../agent/cli/agent.js';
import { silentLogger } from '../../../agent/log.js';
import { ClusterStateRepo } from '../../../agent/cluster/repo.js';
import { openStateStore } from '../../../agent/wiring.js';
import { runCli } from '../../harness/cli.js';
import { localObjectPath } from '../../harness/damage.js';
import { withMariaDb } from '../../harness/mariadb.js';
import { withLocalStack } from '../../harness/stack.js';
import { agentConfig, waitCaughtUp } from '../../harness/streaming.js';
import { sleep } from '../../../agent/retry.js';

describe('status and verify', () => {
  it('report the durable position, then find a damaged and a missing chunk by name', async (t) => {
    const server = await withMariaDb(t);
    const stack = await withLocalStack(t);
    const config = agentConfig(server, stack, 'sv');
    const env = { ...stack.env, SQUIRREL_CLUSTER_ID: config.clusterId };
    const repo = new ClusterStateRepo(openStateStore(config), config.clusterId);

    const none = await runCli(['status', '--json'], { env });
    assert.equal(none.code, 1);
    assert.equal(JSON.parse(none.stdout).status, 'UNKNOWN');

    const { streamer, close } = buildStreamer(config, silentLogger, 'oldest');
    const running = streamer.run();
    try {
      await server.query('CREATE DATABASE app');
      for (let i = 0; i < 6; i++) {
        await server.query(`CREATE TABLE app.t${i} (id INT PRIMARY KEY)`);
        await server.query(`INSERT INTO app.t${i} VALUES (1), (2)`);
        // durable before the next write: one chunk per table however loaded the machine is
        await waitCaughtUp(server, repo);
      }
      await sleep(300); // one more heartbeat records the server position
      const status = await runCli(['status', '--json'], { env });
      assert.equal(status.code, 0, status.stderr);
      const s = JSON.parse(status.stdout);
      assert.equal(s.clusterId, 'sv');
      assert.equal(s.epoch, 1);
      assert.equal(s.status, 'HEALTHY');
      for (const k of ['epoch', 'seq', 'file', 'end', 'gtid', 'key', 'at']) assert.ok(k in s.durable, `durable.${k}`);
      assert.ok(s.heartbeatAgeSeconds < 5);
      assert.equal(s.bytesBehind, 0);
      assert.equal(s.lagSeconds, 0);
      const human = await runCli(['status'], { env });
      assert.match(human.stdout, /durable\s+mariadb-bin\.000001:\d+ seq \d+/);
    } finally {
      await streamer.stop();
      await running;
      await close();
    }

    const good = await runCli(['verify', '--json'], { env });
    assert.equal(good.code, 0, good.stdout + good.stderr);
    const report = JSON.parse(good.stdout);
    assert.equal(report.ok, true);
    assert.ok(report.checked.chunks >= 3);
    assert.deepEqual(report.problems, []);

    const state = (await repo.read())!;
    const keys: string[] = [];
    for await (const o of objectStoreFor(config).list('sv/binlog/000001/')) keys.push(o.key);
    // flip one byte in the middle chunk: its sha-256 no longer matches
    const damaged = keys[1]!;
    const path = localObjectPath(stack, damaged);
    const body = await readFile(path);
    const middle = body.length >> 1;
    body[middle] = body[middle]! ^ 0xff;
    await writeFile(path, body);
    const bad = await runCli(['verify', '--json'], { env });
    assert.equal(bad.code, 1);
    const badReport = JSON.parse(bad.stdout);
    assert.equal(badReport.ok, false);
    assert.ok(badReport.problems.some((p: { object: string; message: string }) => p.object === damaged && /sha-256 mismatch/.test(p.message)), bad.stdout);

    // the durable chunk itself gone: S3 holds less than DynamoDB promises
    await rm(localObjectPath(stack, state.durable!.key));
    const missing = await runCli(['verify'], { env });
    assert.equal(missing.code, 1);
    assert.match(missing.stdout, new RegExp(`durable position names ${state.durable!.key.replace(/[.]/g, '\\.')}, which is not in the object store`));
  });
});
