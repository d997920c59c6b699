import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { objectStoreFor } from '../../../agent/cli/agent.js';
import { RestoreRefusedError } from '../../../agent/errors.js';
import { readInventory } from '../../../agent/restore/inventory.js';
import { planRestore } from '../../../agent/restore/plan.js';
import type { RestoreTarget } from '../../../agent/restore/target.js';
import { openStateStore } from '../../../agent/wiring.js';
import { dumpedNumbers, holdDumpBeforeSnapshot } from '../../harness/dump-hold.js';
import { withMariaDb } from '../../harness/mariadb.js';
import { backup, numbersIn, range, restoreForTest, SequenceWriter, startAgent } from '../../harness/pitr.js';
import { withLocalStack } from '../../harness/stack.js';
import { agentConfig, waitCaughtUp } from '../../harness/streaming.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const timeTarget = (atMs: number): RestoreTarget => ({ kind: 'time', at: new Date(atMs).toISOString(), atMs });

describe('logical backup consistency point', () => {
  it('a logical backup whose snapshot comes after a commit that followed the command start', async (t) => {
    // GIVEN an earlier backup b1 (rows 1-5), then rows 6-10
    const server = await withMariaDb(t);
    const stack = await withLocalStack(t);
    const config = agentConfig(server, stack, 'logical-gap');
    const writer = await SequenceWriter.open(t, server);
    const agent = startAgent(t, config);
    await writer.write(5);
    await waitCaughtUp(server, agent.repo);
    const b1 = await backup(config, agent.repo, 'logical');
    await writer.write(5);

    // WHEN a logical backup b2 starts, and is held before its snapshot while rows 11-13 commit,
    // a second boundary passes (binlog timestamps are whole seconds), and row 14 commits
    const hold = holdDumpBeforeSnapshot(t);
    const taking = backup(config, agent.repo, 'logical');
    taking.catch(() => undefined); // awaited below; a failure before that must not go unhandled
    await hold.started();
    await writer.write(3);
    const secondMs = Math.floor(Date.now() / 1000) * 1000 + 1000;
    await sleep(secondMs - Date.now() + 200);
    const targetMs = secondMs - 1; // after rows 1-13 committed, before row 14
    await writer.write(1);
    hold.release();
    const b2 = await taking;
    await writer.write(3);
    await waitCaughtUp(server, agent.repo);
    await agent.stop();

    await t.test('its consistentAt is not before the commit of the transaction between the command start and the snapshot', async () => {
      assert.ok(Date.parse(b2.startedAt) < targetMs, `the command started (${b2.startedAt}) before the target`);
      assert.ok(writer.committedAt.get(14)! > targetMs);
      // row 14 is inside the dump: it committed before the snapshot
      assert.equal(b2.binlog.gtid, writer.gtidOf.get(14));
      assert.deepEqual(await dumpedNumbers(objectStoreFor(config), b2), range(1, 14));
      assert.ok(
        Date.parse(b2.consistentAt) >= writer.committedAt.get(14)!,
        `consistentAt ${b2.consistentAt} is before row 14 committed (${new Date(writer.committedAt.get(14)!).toISOString()})`,
      );
    });

    const stateStore = openStateStore(config);
    const inventory = await readInventory(objectStoreFor(config), stateStore, '', config.clusterId, { withMetadata: true });
    const planFor = (target: RestoreTarget, manifests = inventory.catalog.complete) =>
      planRestore({ target, state: inventory.state, starts: inventory.starts, manifests, chunks: inventory.chunks, prunedThrough: inventory.prunedThrough });

    await t.test('the restore plan for a time inside the gap takes the earlier backup, or refuses without one', () => {
      assert.deepEqual(inventory.catalog.complete.map((m) => m.id), [b1.id, b2.id]);
      assert.equal(planFor(timeTarget(targetMs)).backup.id, b1.id);
      assert.throws(() => planFor(timeTarget(targetMs), [b2]), RestoreRefusedError);
      // from its consistency point on, b2 is the one to use
      assert.equal(planFor(timeTarget(Date.parse(b2.consistentAt))).backup.id, b2.id);
    });

    await t.test('a time: restore inside the gap holds exactly the rows the primary had at that time', async () => {
      const result = await restoreForTest(t, config, timeTarget(targetMs));
      assert.equal(result.backupId, b1.id);
      const atTarget = [...writer.committedAt].filter(([, at]) => at <= targetMs).map(([n]) => n);
      assert.deepEqual(atTarget, range(1, 13));
      assert.deepEqual(await numbersIn(result.server!), atTarget);
    });
  });
});
