import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { enableSemiSyncMaster, semiSyncSettings, SEMI_SYNC_TIMEOUT_MS } from '../../../agent/instance/semi-sync.js';
import type { MariaDbServer } from '../../../agent/server/mariadb.js';
import { withMariaDb } from '../../harness/mariadb.js';

async function globals(server: MariaDbServer, like: string): Promise<Record<string, string>> {
  const rows = await server.query<{ Variable_name: string; Value: string }[]>(`SHOW GLOBAL VARIABLES LIKE '${like}'`);
  return Object.fromEntries(rows.map((r) => [r.Variable_name, String(r.Value)]));
}

describe('semi-sync master for lossless mode', () => {
  it('strict waits for the agent as long as the server allows; best-effort falls back after 10 s', () => {
    assert.deepEqual(semiSyncSettings('strict'), [
      ['rpl_semi_sync_master_wait_point', 'AFTER_SYNC'],
      ['rpl_semi_sync_master_timeout', 4_294_967_295],
      ['rpl_semi_sync_master_wait_no_slave', 'ON'],
      ['rpl_semi_sync_master_enabled', 'ON'],
    ]);
    assert.equal(semiSyncSettings('best-effort').find(([n]) => n === 'rpl_semi_sync_master_timeout')![1], 10_000);
    // enabled is set last: the others are in place before the first commit waits
    for (const mode of ['strict', 'best-effort'] as const) assert.equal(semiSyncSettings(mode).at(-1)![0], 'rpl_semi_sync_master_enabled');
  });

  for (const mode of ['strict', 'best-effort'] as const) {
    it(`turns semi-sync master on at a running server as ${mode} needs, the server accepting each value as given`, async (t) => {
      const server = await withMariaDb(t);
      assert.equal((await globals(server, 'rpl_semi_sync_master_enabled')).rpl_semi_sync_master_enabled, 'OFF');
      const line = await enableSemiSyncMaster(server.url, mode);
      assert.match(line, /AFTER_SYNC/);
      const vars = await globals(server, 'rpl_semi_sync_master_%');
      assert.equal(vars.rpl_semi_sync_master_enabled, 'ON');
      assert.equal(vars.rpl_semi_sync_master_wait_point, 'AFTER_SYNC');
      assert.equal(vars.rpl_semi_sync_master_wait_no_slave, 'ON');
      // not clipped by the server (a value out of range would be, with only a warning)
      assert.equal(Number(vars.rpl_semi_sync_master_timeout), SEMI_SYNC_TIMEOUT_MS[mode]);
    });
  }

  it('strict: with no semi-sync replica connected, a commit waits instead of falling back', async (t) => {
    const server = await withMariaDb(t);
    await server.query('CREATE DATABASE test');
    await server.query('CREATE TABLE test.t (id INT PRIMARY KEY)');
    await enableSemiSyncMaster(server.url, 'strict');
    let returned = false;
    const waiting = server.query('INSERT INTO test.t VALUES (1)').then(() => (returned = true));
    await sleep(1500);
    assert.equal(returned, false, 'the commit returned without any replica acknowledging it');
    const status = Object.fromEntries((await server.query<{ Variable_name: string; Value: string }[]>("SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_%'")).map((r) => [r.Variable_name, String(r.Value)]));
    assert.equal(status.Rpl_semi_sync_master_status, 'ON', 'semi-sync fell back to asynchronous');
    assert.equal(status.Rpl_semi_sync_master_wait_sessions, '1');
    // what an operator does to release writes when the agent cannot come back (README, "Lossless mode")
    await server.query('SET GLOBAL rpl_semi_sync_master_enabled = OFF');
    await waiting;
    assert.equal(returned, true);
  });
});
