import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import type { MariaDbServer } from '../../../agent/server/mariadb.js';
import { promote } from '../../../agent/restore/promote.js';
import { RELAXED_FOR_REPLAY, startReplayServer } from '../../../agent/restore/replay-server.js';
import { MiB, sizeReplayServer } from '../../../agent/restore/server-sizing.js';

const sizing = { ...sizeReplayServer({ memoryBytes: 8 * 1024 * MiB, dataBytes: 200 * MiB, binlogBytes: 10 * MiB, cores: 2 }), parallelThreads: 6 };

/** A replay server on a new, empty datadir (installed fresh), stopped when the test ends. */
async function replayServer(t: TestContext, durable: boolean): Promise<MariaDbServer> {
  const parent = mkdtempSync(join(tmpdir(), 'sq-replay-server-'));
  const datadir = join(parent, 'data');
  mkdirSync(datadir);
  const server = await startReplayServer({ datadir, serverDir: join(parent, '.data.squirrel'), serverId: 7, sizing, durable });
  t.after(async () => {
    await server.stop();
    rmSync(parent, { recursive: true, force: true });
  });
  return server;
}

async function variables(server: MariaDbServer, names: string[]): Promise<Record<string, string>> {
  const [row] = await server.query<Record<string, unknown>[]>(`SELECT ${names.map((n) => `@@global.${n} AS ${n}`).join(', ')}`);
  return Object.fromEntries(names.map((n) => [n, String(row![n])]));
}

describe('the restore replay server', () => {
  it('runs with the sizing it was given, parallel appliers on every domain, and each relaxed setting at its replay value', async (t) => {
    const server = await replayServer(t, false);
    const got = await variables(server, ['innodb_buffer_pool_size', 'innodb_log_file_size', 'slave_parallel_threads', 'slave_domain_parallel_threads', 'slave_parallel_mode', ...RELAXED_FOR_REPLAY.map((r) => r.name)]);
    assert.deepEqual(got, {
      innodb_buffer_pool_size: String(sizing.bufferPoolBytes),
      innodb_log_file_size: String(sizing.logFileBytes),
      slave_parallel_threads: '6',
      slave_domain_parallel_threads: '0',
      slave_parallel_mode: 'optimistic',
      ...Object.fromEntries(RELAXED_FOR_REPLAY.map((r) => [r.name, String(r.replay)])),
    });
    assert.ok(sizing.bufferPoolBytes > 16 * MiB && sizing.logFileBytes > 8 * MiB, 'not the test sizes');
  });

  it('is refused by promote while a startup-only setting is relaxed, before promote changes anything', async (t) => {
    const server = await replayServer(t, false);
    await assert.rejects(promote(server.url), /innodb_doublewrite=0, settable only at startup/);
    assert.deepEqual(await variables(server, ['sync_binlog', 'innodb_flush_log_at_trx_commit']), { sync_binlog: '0', innodb_flush_log_at_trx_commit: '0' });
  });

  it('hands over with the durable settings, and promote puts back every relaxed setting that was changed since', async (t) => {
    const server = await replayServer(t, true);
    const dynamic = RELAXED_FOR_REPLAY.filter((r) => r.dynamic);
    await server.query(`SET ${dynamic.map((r) => `GLOBAL ${r.name} = ${r.replay}`).join(', ')}`);
    const steps = await promote(server.url, { force: true }); // no cluster: this test is about the settings
    const names = RELAXED_FOR_REPLAY.map((r) => r.name);
    assert.deepEqual(await variables(server, names), Object.fromEntries(RELAXED_FOR_REPLAY.map((r) => [r.name, String(r.durable)])));
    const durability = steps.find((s) => s.action === 'durability')!.detail;
    for (const n of names) assert.match(durability, new RegExp(n));
  });
});
