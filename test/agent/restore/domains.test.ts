import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import type { MariaDbServer } from '../../../agent/server/mariadb.js';
import { parseTarget } from '../../../agent/restore/target.js';
import { runCli } from '../../harness/cli.js';
import { withMariaDb } from '../../harness/mariadb.js';
import { backup, numbersIn, restoreForTest, SequenceWriter, startAgent, type PitrConfig } from '../../harness/pitr.js';
import { withLocalStack } from '../../harness/stack.js';
import { agentConfig, waitCaughtUp } from '../../harness/streaming.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The primary's GTID position right after write `n`: per domain, the last GTID written up to it. */
function positionAfter(writer: SequenceWriter, n: number): string {
  const last = new Map<number, string>();
  for (const k of writer.upTo(n)) last.set(writer.domainOf.get(k)!, writer.gtidOf.get(k)!);
  return [...last.entries()].sort(([a], [b]) => a - b).map(([, g]) => g).join(',');
}

async function gtidState(server: MariaDbServer): Promise<{ binlogPos: string; binlogState: string; slavePos: string }> {
  const [row] = await server.query<{ binlogPos: string; binlogState: string; slavePos: string }[]>(
    'SELECT @@gtid_binlog_pos AS binlogPos, @@gtid_binlog_state AS binlogState, @@gtid_slave_pos AS slavePos',
  );
  return row!;
}

/** Restores `target` both ways (through the fake primary and through the pipe) and checks the rows. */
async function restoresBothWays(t: TestContext, config: PitrConfig, target: string, rows: number[], gtidPos?: string): Promise<void> {
  for (const via of ['replica', 'pipe'] as const) {
    const result = await restoreForTest(t, config, parseTarget(target), { via });
    assert.deepEqual(await numbersIn(result.server!), rows, `${target} via ${via}`);
    if (gtidPos !== undefined) {
      assert.equal((await gtidState(result.server!)).binlogPos, gtidPos, `${target} via ${via}: the restored server's GTID position`);
      assert.equal(result.gtidPosition, gtidPos, `${target} via ${via}: the reported position`);
    }
  }
}

describe('restore with transactions in several GTID domains', () => {
  it('restores every domain for latest, time: and gtid: targets, through the fake primary and the pipe', async (t) => {
    const server = await withMariaDb(t);
    const stack = await withLocalStack(t);
    const config = agentConfig(server, stack, 'pitr-domains');
    const writer = await SequenceWriter.open(t, server, { domains: [0, 7, 3] });
    const agent = startAgent(t, config);
    // GIVEN three domains written in turn, a base backup in the middle of the writes
    await writer.write(30);
    await waitCaughtUp(server, agent.repo);
    await backup(config, agent.repo);
    await writer.write(60);
    await sleep(1100);
    const middle = new Date();
    const beforeMiddle = writer.next - 1;
    await sleep(1100);
    await writer.write(60);
    await waitCaughtUp(server, agent.repo);
    await agent.stop();

    const durable = (await agent.repo.read())!.durable!;
    const last = writer.next - 1;

    await t.test('the durable position names every domain', () => {
      assert.equal(durable.gtid, positionAfter(writer, last));
      assert.equal(durable.gtid.split(',').length, 3);
    });

    await t.test('status prints the whole position', async () => {
      const r = await runCli(['status', '--json'], { env: { ...stack.env, SQUIRREL_CLUSTER_ID: config.clusterId, SQUIRREL_MYSQL_URL: config.mysqlUrl } });
      assert.equal(r.code, 0, r.stderr);
      assert.equal((JSON.parse(r.stdout) as { durable: { gtid: string } }).durable.gtid, positionAfter(writer, last));
    });

    await t.test('latest restores every domain', async (st) => {
      await restoresBothWays(st, config, 'latest', writer.upTo(last), positionAfter(writer, last));
    });

    await t.test('time: restores every domain up to the instant', async (st) => {
      await restoresBothWays(st, config, `time:${middle.toISOString()}`, writer.upTo(beforeMiddle), positionAfter(writer, beforeMiddle));
    });

    await t.test('gtid: naming one domain restores every transaction of every domain before that point', async (st) => {
      const k = [...writer.domainOf.keys()].find((n) => n > beforeMiddle + 10 && writer.domainOf.get(n) === 7)!;
      await restoresBothWays(st, config, `gtid:${writer.gtidOf.get(k)}`, writer.upTo(k), positionAfter(writer, k));
    });

    await t.test('gtid: naming every domain restores exactly that position', async (st) => {
      const k = beforeMiddle - 20;
      await restoresBothWays(st, config, `gtid:${positionAfter(writer, k)}`, writer.upTo(k), positionAfter(writer, k));
    });

    await t.test('the plan prints the last GTID of each domain', async () => {
      const r = await runCli(['restore', '--dry-run', '--target', 'latest', '--datadir', '/nonexistent/never-used'], {
        env: { ...stack.env, SQUIRREL_CLUSTER_ID: config.clusterId, SQUIRREL_MYSQL_URL: config.mysqlUrl },
      });
      assert.equal(r.code, 0, r.stderr);
      for (const g of positionAfter(writer, last).split(',')) {
        const [domain] = g.split('-');
        assert.match(r.stdout, new RegExp(`domain ${domain}: +${g}\\b`), r.stdout);
      }
    });

    await t.test('promote keeps every domain and new transactions continue their own domain', async (st) => {
      const restored = await restoreForTest(st, config, parseTarget('latest'));
      const target = restored.server!;
      // no cluster configuration here: this test is about GTID domains, not the epoch checks (promote-checks.test.ts)
      const r = await runCli(['promote', '--json', '--force', '--url', target.url]);
      assert.equal(r.code, 0, r.stderr);
      const state = await gtidState(target);
      assert.equal(state.binlogPos, positionAfter(writer, last));
      for (const g of positionAfter(writer, last).split(',')) assert.ok(state.binlogState.split(',').includes(g), `${g} in ${state.binlogState}`);
      const [d7] = positionAfter(writer, last).split(',').filter((g) => g.startsWith('7-'));
      await target.query('SET SESSION gtid_domain_id = 7; INSERT INTO app.seq (n) VALUES (100000)');
      const after = (await gtidState(target)).binlogPos.split(',').find((g) => g.startsWith('7-'))!;
      assert.equal(Number(after.split('-')[2]), Number(d7!.split('-')[2]) + 1, `domain 7 continues after ${d7}, got ${after}`);
    });
  });

  it('restores every domain inside the durable position after kill -9 of the primary', async (t) => {
    const server = await withMariaDb(t);
    const stack = await withLocalStack(t);
    const config = agentConfig(server, stack, 'pitr-domains-crash');
    const writer = await SequenceWriter.open(t, server, { domains: [0, 5] });
    const agent = startAgent(t, config);
    await writer.write(20);
    await waitCaughtUp(server, agent.repo);
    await backup(config, agent.repo);
    await writer.write(40);
    await waitCaughtUp(server, agent.repo);
    const tail = writer.write(2000).catch(() => undefined);
    await sleep(300);
    await server.kill9();
    await tail;
    await agent.stop();

    const durable = (await agent.repo.read())!.durable!;
    const result = await restoreForTest(t, config, { kind: 'latest' });
    const restored = await numbersIn(result.server!);
    const k = restored.length;
    assert.deepEqual(restored, writer.upTo(k).length === k ? writer.upTo(k) : restored, 'a prefix of the sequence');
    assert.ok(k >= 60, `restored ${k}`);
    assert.equal((await gtidState(result.server!)).binlogPos, durable.gtid);
    // every domain of the durable position is the primary's position after the last restored write
    // (or the one write the crash cut off after commit and before its acknowledgement)
    const acked = positionAfter(writer, Math.min(k, writer.next - 1));
    assert.equal(durable.gtid.split(',').length, 2);
    if (writer.gtidOf.has(k)) assert.equal(durable.gtid, acked);
  });
});

describe('restore with XA transactions', () => {
  it('restores XA COMMIT and XA ROLLBACK as the last durable transaction, and targets between the two halves', async (t) => {
    const server = await withMariaDb(t);
    const stack = await withLocalStack(t);
    const config = agentConfig(server, stack, 'pitr-xa');
    const writer = await SequenceWriter.open(t, server);
    const agent = startAgent(t, config);
    await writer.write(20);
    await waitCaughtUp(server, agent.repo);
    await backup(config, agent.repo);
    await writer.write(20);

    // GIVEN an XA transaction whose COMMIT, two seconds after its PREPARE, is the last durable transaction
    const committed = await writer.xa('commit', { pauseMs: 2200 });
    const betweenPrepareAndCommit = new Date(Math.floor(committed.preparedAt / 1000) * 1000 + 1500);
    await waitCaughtUp(server, agent.repo);
    const durableAtCommit = (await agent.repo.read())!.durable!;
    assert.equal(durableAtCommit.gtid, committed.endGtid);

    await t.test('latest ends with the XA COMMIT applied', async (st) => {
      await restoresBothWays(st, config, 'latest', writer.upTo(committed.n), committed.endGtid);
    });

    // AND a gtid: target on the XA PREPARE half: the transaction is prepared, not committed
    await t.test('a gtid: target on the XA PREPARE leaves the transaction prepared', async (st) => {
      for (const via of ['replica', 'pipe'] as const) {
        const result = await restoreForTest(st, config, parseTarget(`gtid:${committed.prepareGtid}`), { via });
        assert.deepEqual(await numbersIn(result.server!), writer.upTo(committed.n - 1), via);
        const recovered = await result.server!.query<{ data: string }[]>('XA RECOVER');
        assert.deepEqual(recovered.map((r) => String(r.data)), [committed.xid], `${via}: XA RECOVER`);
      }
    });

    await t.test('a time: target between XA PREPARE and XA COMMIT leaves the transaction prepared', async (st) => {
      for (const via of ['replica', 'pipe'] as const) {
        const result = await restoreForTest(st, config, parseTarget(`time:${betweenPrepareAndCommit.toISOString()}`), { via });
        assert.deepEqual(await numbersIn(result.server!), writer.upTo(committed.n - 1), via);
        const recovered = await result.server!.query<{ data: string }[]>('XA RECOVER');
        assert.deepEqual(recovered.map((r) => String(r.data)), [committed.xid], `${via}: XA RECOVER`);
        assert.equal((await gtidState(result.server!)).binlogPos, committed.prepareGtid, via);
      }
    });

    // AND an XA transaction rolled back as the last durable transaction
    const rolledBack = await writer.xa('rollback');
    await sleep(1100);
    const betweenHalves = new Date();
    await waitCaughtUp(server, agent.repo);
    assert.equal((await agent.repo.read())!.durable!.gtid, rolledBack.endGtid);

    await t.test('latest ends with the XA ROLLBACK applied', async (st) => {
      await restoresBothWays(st, config, 'latest', writer.upTo(committed.n), rolledBack.endGtid);
      const result = await restoreForTest(st, config, parseTarget('latest'));
      assert.deepEqual(await result.server!.query('XA RECOVER'), []);
    });

    // AND an XA PREPARE followed by a crash of the primary before its XA COMMIT
    await sleep(1100);
    const open = await writer.xa('prepare');
    await waitCaughtUp(server, agent.repo);
    await server.kill9();
    await agent.stop();

    await t.test('a crash between XA PREPARE and XA COMMIT restores the transaction prepared, as the primary recovers it', async (st) => {
      await server.restart();
      const onPrimary = await server.query<{ data: string }[]>('XA RECOVER');
      assert.deepEqual(onPrimary.map((r) => String(r.data)), [open.xid], 'the primary itself recovers it prepared');
      for (const via of ['replica', 'pipe'] as const) {
        const result = await restoreForTest(st, config, parseTarget('latest'), { via });
        assert.deepEqual(await numbersIn(result.server!), writer.upTo(committed.n), via);
        const recovered = await result.server!.query<{ data: string }[]>('XA RECOVER');
        assert.deepEqual(recovered.map((r) => String(r.data)), [open.xid], `${via}: XA RECOVER`);
        assert.equal((await gtidState(result.server!)).binlogPos, open.prepareGtid, via);
      }
    });

    await t.test('a time: target between the rollback and the prepare stops after the rollback', async (st) => {
      await restoresBothWays(st, config, `time:${betweenHalves.toISOString()}`, writer.upTo(committed.n), rolledBack.endGtid);
    });
  });
});
