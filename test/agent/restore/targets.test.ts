import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RestoreRefusedError } from '../../../agent/errors.js';
import { parseTarget } from '../../../agent/restore/target.js';
import { withMariaDb } from '../../harness/mariadb.js';
import { backup, numbersIn, range, restoreForTest, SequenceWriter, startAgent } from '../../harness/pitr.js';
import { withLocalStack } from '../../harness/stack.js';
import { agentConfig, waitCaughtUp } from '../../harness/streaming.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('restore to a time or a GTID', () => {
  it('stops at the last transaction at or before the target, never inside one', async (t) => {
    const server = await withMariaDb(t);
    const stack = await withLocalStack(t);
    const config = agentConfig(server, stack, 'pitr-targets');
    const writer = await SequenceWriter.open(t, server);
    const agent = startAgent(t, config);
    await writer.write(50);
    await waitCaughtUp(server, agent.repo);
    const beforeBackup = Date.now();
    await sleep(1100);
    // GIVEN a backup taken during the writes, then a pause around a chosen instant, then more writes
    const writing = writer.write(100);
    await backup(config, agent.repo);
    await writing;
    await sleep(1100);
    const middle = new Date(Date.now());
    await sleep(1100);
    await writer.write(100);
    await waitCaughtUp(server, agent.repo);
    await agent.stop();

    await t.test('time: restores exactly the writes committed before the instant', async (st) => {
      const result = await restoreForTest(st, config, parseTarget(`time:${middle.toISOString()}`));
      assert.deepEqual(await numbersIn(result.server!), range(1, 150));
      assert.equal(result.stoppedBy, 'time');
      assert.equal(result.lastGtid, writer.gtidOf.get(150));
    });

    await t.test('gtid: is inclusive', async (st) => {
      const gtid = writer.gtidOf.get(222)!;
      const result = await restoreForTest(st, config, parseTarget(`gtid:${gtid}`));
      assert.deepEqual(await numbersIn(result.server!), range(1, 222));
      const [{ pos }] = (await result.server!.query<{ pos: string }[]>('SELECT @@gtid_binlog_pos AS pos')) as [{ pos: string }];
      assert.equal(pos, gtid);
    });

    await t.test('a time before every base backup is refused', async (st) => {
      await assert.rejects(restoreForTest(st, config, parseTarget(`time:${new Date(beforeBackup).toISOString()}`)), (err) => {
        assert.ok(err instanceof RestoreRefusedError, String(err));
        assert.match(err.message, /no complete base backup can reach target/);
        return true;
      });
    });

    await t.test('a GTID beyond the durable position is refused', async (st) => {
      await assert.rejects(restoreForTest(st, config, parseTarget('gtid:0-1-999999')), (err) => {
        assert.ok(err instanceof RestoreRefusedError, String(err));
        assert.match(err.message, /beyond the durable position/);
        return true;
      });
    });
  });
});
