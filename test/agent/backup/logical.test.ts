import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { objectStoreFor } from '../../../agent/cli/agent.js';
import { dumpedNumbers } from '../../harness/dump-hold.js';
import { withMariaDb } from '../../harness/mariadb.js';
import { takeBaseBackup } from '../../../agent/backup/base-backup.js';
import { backup, backupDeps, numbersIn, range, restoreForTest, SequenceWriter, startAgent } from '../../harness/pitr.js';
import { withLocalStack } from '../../harness/stack.js';
import { agentConfig, waitCaughtUp } from '../../harness/streaming.js';

describe('logical base backup', () => {
  it('dumps with its consistency point, and restores to latest on a fresh server', async (t) => {
    const server = await withMariaDb(t);
    const stack = await withLocalStack(t);
    const config = agentConfig(server, stack, 'logical');
    const writer = await SequenceWriter.open(t, server);
    const agent = startAgent(t, config);
    await writer.write(40);
    await waitCaughtUp(server, agent.repo);
    const manifest = await backup(config, agent.repo, 'logical');
    assert.equal(manifest.kind, 'logical');
    assert.equal(manifest.object.format, 'sql');
    assert.equal(manifest.binlog.gtid, writer.gtidOf.get(40));
    // a second backup started in the same second takes its own id, never the first one's key
    const sameSecond = Date.parse(manifest.startedAt);
    const again = await takeBaseBackup({ ...backupDeps(config, agent.repo), now: () => sameSecond }, { kind: 'logical', progress: false, durableTimeoutMs: 30_000 });
    assert.equal(again.id, `${manifest.id}-2`);
    await writer.write(40);
    await waitCaughtUp(server, agent.repo);
    await agent.stop();

    const result = await restoreForTest(t, config, { kind: 'latest' });
    assert.equal(result.backupId, again.id);
    assert.equal(result.transactions, 40);
    assert.deepEqual(await numbersIn(result.server!), range(1, 80));
  });

  it('dumps exactly the transactions up to its reported GTID while writers commit concurrently', async (t) => {
    const server = await withMariaDb(t);
    const stack = await withLocalStack(t);
    const config = agentConfig(server, stack, 'logical-busy');
    // three writers on their own connections and number ranges, committing until the backup is done
    const writers = await Promise.all([0, 1, 2].map(async (i) => {
      const w = await SequenceWriter.open(t, server);
      w.next = i * 1_000_000 + 1;
      return w;
    }));
    const agent = startAgent(t, config);
    let stop = false;
    const writing = Promise.all(writers.map(async (w) => {
      while (!stop) await w.write(1);
    }));
    try {
      await new Promise((r) => setTimeout(r, 300));
      await waitCaughtUp(server, agent.repo);
      const manifest = await backup(config, agent.repo, 'logical');
      await new Promise((r) => setTimeout(r, 300));
      stop = true;
      await writing;

      const seqOf = (gtid: string) => Number(gtid.split('-')[2]);
      const snapshotSeq = seqOf(manifest.binlog.gtid);
      const all = writers.flatMap((w) => [...w.gtidOf]);
      const expected = all.filter(([, g]) => seqOf(g) <= snapshotSeq).map(([n]) => n).sort((a, b) => a - b);
      const later = all.filter(([, g]) => seqOf(g) > snapshotSeq);
      t.diagnostic(`${expected.length} transactions before the snapshot, ${later.length} after`);
      assert.ok(expected.length > 0 && later.length > 0, 'the writers committed on both sides of the snapshot');
      // the reported GTID is one the writers committed (not a later or earlier server position)
      assert.ok(all.some(([, g]) => g === manifest.binlog.gtid), `GTID ${manifest.binlog.gtid} is not one of the writers'`);
      assert.deepEqual(await dumpedNumbers(objectStoreFor(config), manifest), expected);
    } finally {
      stop = true;
      await writing.catch(() => undefined);
    }
  });
});
