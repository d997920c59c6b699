import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseTarget } from '../../../agent/restore/target.js';
import { withMariaDb } from '../../harness/mariadb.js';
import { backup, numbersIn, range, restoreForTest, SequenceWriter, startAgent } from '../../harness/pitr.js';
import { withLocalStack } from '../../harness/stack.js';
import { agentConfig, waitCaughtUp } from '../../harness/streaming.js';

describe('restore to latest', () => {
  it('restores every transaction inside the durable position after kill -9 of the primary, and nothing beyond it', async (t) => {
    const server = await withMariaDb(t);
    const stack = await withLocalStack(t);
    const config = agentConfig(server, stack, 'pitr-latest');
    const writer = await SequenceWriter.open(t, server);
    const agent = startAgent(t, config);
    await writer.write(50);
    await waitCaughtUp(server, agent.repo);

    // GIVEN a base backup taken while the writes go on
    const writing = writer.write(150);
    const manifest = await backup(config, agent.repo);
    await writing;
    assert.equal(manifest.kind, 'physical');
    assert.match(manifest.binlog.gtid, /^0-1-\d+$/);

    // AND more writes, the stream caught up, a FLUSH (a file switch), more writes, then a crash
    await waitCaughtUp(server, agent.repo);
    await server.query('FLUSH BINARY LOGS');
    await writer.write(100);
    await waitCaughtUp(server, agent.repo);
    const tail = writer.write(1000).catch(() => undefined); // cut off by the crash
    await new Promise((r) => setTimeout(r, 300));
    await server.kill9();
    await tail;
    await agent.stop();

    // WHEN restoring to latest
    const durable = (await agent.repo.read())!.durable!;
    const result = await restoreForTest(t, config, { kind: 'latest' });

    // THEN exactly the transactions up to the durable GTID are there
    // the durable GTID is a write the client saw acknowledged, or the one write the kill cut off
    // after it committed and before its acknowledgement arrived (durable, never acknowledged)
    const seqOf = (gtid: string) => Number(gtid.split('-')[2]);
    const lastAcked = Math.max(...writer.gtidOf.keys());
    const last = writer.numberOf.get(durable.gtid) ?? (seqOf(durable.gtid) === seqOf(writer.gtidOf.get(lastAcked)!) + 1 ? lastAcked + 1 : undefined);
    assert.ok(last !== undefined && last >= 300, `durable GTID ${durable.gtid} is not one of the writes`);
    assert.deepEqual(await numbersIn(result.server!), range(1, last));
    const [{ pos }] = (await result.server!.query<{ pos: string }[]>('SELECT @@gtid_binlog_pos AS pos')) as [{ pos: string }];
    assert.equal(pos, durable.gtid);
    assert.equal(result.gtidPosition, durable.gtid);
    assert.equal(result.backupId, manifest.id);
    assert.ok(result.transactions > 0);

    // AND the phases are timed, the replay counted, and the server handed over is sized by the rule with durable settings
    assert.equal(result.phases.replayTransactions, result.transactions);
    assert.ok(result.phases.fetchMs > 0 && result.phases.prepareMs > 0 && result.phases.replayMs > 0 && result.phases.finishMs > 0, JSON.stringify(result.phases));
    const [handed] = await result.server!.query<Record<string, number>[]>(
      'SELECT @@innodb_buffer_pool_size AS pool, @@innodb_doublewrite AS dw, @@sync_binlog AS sb, @@innodb_flush_log_at_trx_commit AS flush',
    );
    assert.deepEqual(handed, { pool: result.sizing!.bufferPoolBytes, dw: 1, sb: 1, flush: 1 });
    // AND the replay's chunks were read during the prepare: every chunk the fake primary read came
    // from memory (a chunk it jumped over is fetched and never asked for)
    const prefetch = result.prefetch!;
    assert.ok(prefetch.misses === 0 && prefetch.hits >= prefetch.fetched - 2 && prefetch.bytes === result.chunkBytes, JSON.stringify(prefetch));

    await t.test('and to a time in the middle of the load: a prefix ending in that second', async (st) => {
      const at = writer.committedAt.get(250)!;
      const second = Math.floor(at / 1000) * 1000;
      const timed = await restoreForTest(st, config, parseTarget(`time:${new Date(at).toISOString()}`));
      const numbers = await numbersIn(timed.server!);
      const k = numbers.length;
      assert.deepEqual(numbers, range(1, k), 'a prefix of the sequence');
      // every write acknowledged before the target's second is in, none begun after it ended
      const lower = Math.max(...[...writer.committedAt].filter(([, ms]) => ms < second).map(([n]) => n));
      assert.ok(k >= lower, `restored ${k}, but ${lower} committed before ${new Date(second).toISOString()}`);
      // a write issued after the previous one was acknowledged, past the end of the second, is stamped later
      const upper = Math.min(...[...writer.committedAt].filter(([, ms]) => ms >= second + 1000).map(([n]) => n + 1));
      assert.ok(k < upper, `restored ${k}, beyond ${upper}`);
      st.diagnostic(`time target restored 1..${k} (lower bound ${lower}, upper ${upper})`);
    });
  });
});
