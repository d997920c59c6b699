import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { objectStoreFor } from '../../../agent/cli/agent.js';
import { RestoreRefusedError } from '../../../agent/errors.js';
import { parseChunkKey } from '../../../agent/keys.js';
import { silentLogger } from '../../../agent/log.js';
import { parseTarget } from '../../../agent/restore/target.js';
import { prune } from '../../../agent/retention/prune.js';
import { ClusterStateRepo } from '../../../agent/cluster/repo.js';
import { verifyCluster } from '../../../agent/stream/verify.js';
import { openStateStore } from '../../../agent/wiring.js';
import { withMariaDb } from '../../harness/mariadb.js';
import { backup, numbersIn, range, restoreForTest, SequenceWriter, startAgent } from '../../harness/pitr.js';
import { withLocalStack } from '../../harness/stack.js';
import { agentConfig, waitCaughtUp } from '../../harness/streaming.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('prune', () => {
  it('deletes what no target inside the window needs, and every point inside it still restores', async (t) => {
    const server = await withMariaDb(t);
    const stack = await withLocalStack(t);
    const config = agentConfig(server, stack, 'prune');
    const writer = await SequenceWriter.open(t, server);
    const agent = startAgent(t, config);
    await writer.write(30);
    await waitCaughtUp(server, agent.repo);
    const b1 = await backup(config, agent.repo);
    await sleep(1100);
    const betweenBackups = new Date();
    await sleep(1100);
    await writer.write(50);
    await server.query('FLUSH BINARY LOGS');
    await writer.write(30);
    await waitCaughtUp(server, agent.repo);
    const b2 = await backup(config, agent.repo);
    assert.notEqual(b2.binlog.file, b1.binlog.file);
    await sleep(1100);
    const t1 = new Date();
    await sleep(1100);
    await writer.write(50);
    await sleep(1100);
    const t2 = new Date();
    await sleep(1100);
    await writer.write(50);
    await waitCaughtUp(server, agent.repo);
    await agent.stop();

    // WHEN pruning with a window that starts just after the second backup
    const windowStartMs = Date.parse(b2.consistentAt) + 500;
    const keepMs = 3_600_000;
    const objects = objectStoreFor(config);
    const deps = { objects, stateStore: openStateStore(config), prefix: '', clusterId: config.clusterId, log: silentLogger };
    const dry = await prune(deps, { keepMs, nowMs: windowStartMs + keepMs, dryRun: true });
    const before: string[] = [];
    for await (const o of objects.list(`${config.clusterId}/`)) before.push(o.key);
    const plan = await prune(deps, { keepMs, nowMs: windowStartMs + keepMs });
    const after: string[] = [];
    for await (const o of objects.list(`${config.clusterId}/`)) after.push(o.key);

    // THEN the dry run changed nothing and the real one deleted the older backup and its file's chunks
    assert.deepEqual(dry.deleteChunks, plan.deleteChunks);
    assert.deepEqual(plan.keepBackups, [b2.id]);
    assert.deepEqual(plan.deleteBackups.map((b) => b.id), [b1.id]);
    assert.ok(plan.deleteChunks.length > 0);
    for (const k of plan.deleteChunks) assert.equal(parseChunkKey(k)!.file, b1.binlog.file);
    assert.ok(!after.some((k) => k.includes(`/base/${b1.id}/`)));
    assert.ok(after.some((k) => k.includes(`/base/${b2.id}/manifest.json`)));
    assert.equal(before.length - after.length, plan.deleteChunks.length + plan.deleteBackups[0]!.keys.length - 1 /* the marker */);

    // AND verify reads the pruned prefix as pruned, not lost
    const state = (await new ClusterStateRepo(deps.stateStore, config.clusterId).read())!;
    const report = await verifyCluster(objects, deps.stateStore, '', state);
    assert.deepEqual(report.problems, []);

    // AND every point inside the window restores, exactly
    const cases: [string, number][] = [
      [`time:${new Date(windowStartMs).toISOString()}`, 110],
      [`time:${t1.toISOString()}`, 110],
      [`time:${t2.toISOString()}`, 160],
      [`gtid:${writer.gtidOf.get(175)}`, 175],
      ['latest', 210],
    ];
    for (const [target, last] of cases) {
      await t.test(`restores ${target}`, async (st) => {
        const result = await restoreForTest(st, config, parseTarget(target));
        assert.equal(result.backupId, b2.id);
        assert.deepEqual(await numbersIn(result.server!), range(1, last));
      });
    }
    // a point before the window has lost its backup: refused, never restored with a hole
    await assert.rejects(restoreForTest(t, config, parseTarget(`time:${betweenBackups.toISOString()}`)), RestoreRefusedError);
  });
});
