import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import mysql from 'mysql2/promise';
import { pidAlive } from '../../../agent/server/process-util.js';
import { runCli } from '../../harness/cli.js';
import { withMariaDb } from '../../harness/mariadb.js';
import { restoreDir, SequenceWriter, startAgent } from '../../harness/pitr.js';
import { withLocalStack } from '../../harness/stack.js';
import { agentConfig, waitCaughtUp } from '../../harness/streaming.js';

const run = (args: string[], env: Record<string, string>) => runCli(args, { env, timeoutMs: 120_000 });

describe('backup, restore and prune commands', () => {
  it('back up, print a restore plan, restore and leave the server running, and plan a prune', async (t) => {
    const server = await withMariaDb(t);
    const stack = await withLocalStack(t);
    const config = agentConfig(server, stack, 'cli-pitr');
    const env = { ...stack.env, SQUIRREL_CLUSTER_ID: config.clusterId, SQUIRREL_MYSQL_URL: server.url, SQUIRREL_LOG_LEVEL: 'warn' };
    const writer = await SequenceWriter.open(t, server);
    const agent = startAgent(t, config);
    await writer.write(20);
    await waitCaughtUp(server, agent.repo);

    const b = await run(['backup', '--json'], env);
    assert.equal(b.code, 0, b.stderr);
    const manifest = JSON.parse(b.stdout) as { id: string; binlog: { gtid: string } };
    await writer.write(20);
    await waitCaughtUp(server, agent.repo);
    await agent.stop();

    const datadir = restoreDir(t);
    const dry = await run(['restore', '--target', 'latest', '--datadir', datadir, '--dry-run'], env);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, new RegExp(`base backup: +${manifest.id}`));
    assert.match(dry.stdout, /restores to: +GTID position 0-1-\d+/);
    // the plan comes with a predicted restore time, and so does status
    assert.match(dry.stdout, /predicted: +\d+:\d\d \(fetch .*replay 20 tx /);
    const st = await run(['status', '--json'], env);
    assert.equal(st.code, 0, st.stderr);
    const predicted = (JSON.parse(st.stdout) as { predictedRestore: { backupId: string; transactions: number; seconds: number } }).predictedRestore;
    assert.deepEqual([predicted.backupId, predicted.transactions], [manifest.id, 20]);
    assert.ok(predicted.seconds > 0);

    const r = await run(['restore', '--target', 'latest', '--datadir', datadir, '--start', '--json', '--buffer-pool', '256M'], env);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout) as { transactions: number; server: { pid: number; socket: string }; phases: Record<string, number>; sizing: { bufferPoolBytes: number } };
    t.after(() => {
      if (pidAlive(result.server.pid)) process.kill(result.server.pid, 'SIGKILL');
    });
    assert.ok(pidAlive(result.server.pid), 'the restored server outlives the command');
    // the JSON times every phase and counts the replay; --buffer-pool overrides the sizing rule
    assert.deepEqual(Object.keys(result.phases), ['planMs', 'fetchMs', 'prepareMs', 'startMs', 'replayMs', 'finishMs', 'replayTransactions', 'replayTxPerSec']);
    assert.equal(result.phases.replayTransactions, result.transactions);
    assert.equal(result.sizing.bufferPoolBytes, 256 * 1024 * 1024);
    const conn = await mysql.createConnection({ socketPath: result.server.socket, user: 'root', password: server.rootPassword });
    const [rows] = await conn.query('SELECT COUNT(*) AS n FROM app.seq');
    const [settings] = await conn.query('SELECT @@innodb_buffer_pool_size AS pool, @@innodb_doublewrite AS dw, @@innodb_flush_log_at_trx_commit AS flush, @@sync_binlog AS sb, @@read_only AS ro');
    await conn.end();
    // the server handed over keeps the restore's sizing, with every durable setting, and takes no writes before promote
    assert.deepEqual((settings as Record<string, number>[])[0], { pool: 256 * 1024 * 1024, dw: 1, flush: 1, sb: 1, ro: 1 });
    assert.equal((rows as { n: number }[])[0]!.n, 40);
    // the next prediction uses what this restore measured (its replay was too small to give a rate)
    const again = await run(['status', '--json'], env);
    assert.match((JSON.parse(again.stdout) as { predictedRestore: { rates: string } }).predictedRestore.rates, /^the last restore \(.*backup .*\): .*fixed; .*replay from the defaults$/);
    process.kill(result.server.pid, 'SIGTERM');
    for (let i = 0; i < 200 && pidAlive(result.server.pid); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(!pidAlive(result.server.pid), 'the restored server stopped on SIGTERM');

    const p = await run(['prune', '--keep', '7d', '--dry-run', '--json'], env);
    assert.equal(p.code, 0, p.stderr);
    assert.deepEqual((JSON.parse(p.stdout) as { keepBackups: string[] }).keepBackups, [manifest.id]);

    const bad = await run(['restore', '--target', 'time:yesterday', '--datadir', datadir], env);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /invalid restore target/);
  });
});
