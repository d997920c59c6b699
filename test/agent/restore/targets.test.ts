import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RestoreRefusedError } from '../../../agent/errors.js';
import { parseTarget } from '../../../agent/restore/target.js';
import { runCli } from '../../harness/cli.js';
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
      assert.equal(result.gtidPosition, writer.gtidOf.get(150));
    });

    await t.test('gtid: is inclusive', async (st) => {
      const gtid = writer.gtidOf.get(222)!;
      const result = await restoreForTest(st, config, parseTarget(`gtid:${gtid}`));
      assert.deepEqual(await numbersIn(result.server!), range(1, 222));
      const [{ pos }] = (await result.server!.query<{ pos: string }[]>('SELECT @@gtid_binlog_pos AS pos')) as [{ pos: string }];
      assert.equal(pos, gtid);
    });

    await t.test('the mariadb-binlog | mariadb pipe reaches the same targets', async (st) => {
      const byTime = await restoreForTest(st, config, parseTarget(`time:${middle.toISOString()}`), { via: 'pipe' });
      assert.deepEqual(await numbersIn(byTime.server!), range(1, 150));
      const gtid = writer.gtidOf.get(222)!;
      const byGtid = await restoreForTest(st, config, parseTarget(`gtid:${gtid}`), { via: 'pipe' });
      assert.deepEqual(await numbersIn(byGtid.server!), range(1, 222));
      const latest = await restoreForTest(st, config, parseTarget('latest'), { via: 'pipe' });
      assert.deepEqual(await numbersIn(latest.server!), range(1, 250));
    });

    await t.test('promote makes the restored server a primary whose GTIDs continue after the target', async (st) => {
      const gtid = writer.gtidOf.get(222)!;
      const restored = await restoreForTest(st, config, parseTarget(`gtid:${gtid}`));
      const server = restored.server!;
      await server.query('SET GLOBAL read_only = ON');
      // no cluster configuration here: this test is about GTIDs and settings, not the epoch checks (promote-checks.test.ts)
      const r = await runCli(['promote', '--json', '--force', '--url', server.url]);
      assert.equal(r.code, 0, r.stderr);
      const steps = (JSON.parse(r.stdout) as { steps: { action: string; detail: string }[] }).steps;
      assert.deepEqual(steps.map((s) => s.action), ['checks', 'replication', 'binlog', 'durability', 'epoch', 'writes']);
      const [flags] = await server.query<{ ro: number; sb: number; fl: number }[]>('SELECT @@global.read_only AS ro, @@global.sync_binlog AS sb, @@global.innodb_flush_log_at_trx_commit AS fl');
      assert.deepEqual([Number(flags!.ro), Number(flags!.sb), Number(flags!.fl)], [0, 1, 1]);
      await server.query('INSERT INTO app.seq (n) VALUES (100000)');
      const [pos] = await server.query<{ pos: string }[]>('SELECT @@gtid_binlog_pos AS pos');
      const [, , seq] = gtid.split('-').map(Number);
      assert.equal(Number(pos!.pos.split('-')[2]), seq! + 1, `the first new transaction must follow ${gtid}, got ${pos!.pos}`);
      assert.equal((await server.query<unknown[]>('SHOW SLAVE STATUS')).length, 0);
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
