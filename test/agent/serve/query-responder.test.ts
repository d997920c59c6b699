import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { QueryResponder } from '../../../agent/serve/query-responder.js';
import { ColumnType } from '../../../agent/serve/responses.js';

const system = { server_id: 4000000002, binlog_checksum: 'CRC32', gtid_domain_id: 0, version: '10.11.0-MariaDB-squirrel' };
const NOW = 1_700_000_123_456;

function rows(r: QueryResponder, sql: string): (string | null)[][] {
  const a = r.answer(sql, NOW);
  assert.equal(a.kind, 'rows', JSON.stringify(a));
  return a.kind === 'rows' ? a.rows : [];
}

describe('query responder', () => {
  it('answers every statement a MariaDB 10.11 replica sends before its dump, in order', () => {
    const r = new QueryResponder(system, '10.11.0-MariaDB-squirrel');
    assert.deepEqual(rows(r, 'SELECT UNIX_TIMESTAMP()'), [['1700000123']]);
    assert.deepEqual(rows(r, "SHOW VARIABLES LIKE 'SERVER_ID'"), [['server_id', '4000000002']]);
    for (const sql of [
      'SET @master_heartbeat_period= 30000001024',
      'SET @master_binlog_checksum= @@global.binlog_checksum',
    ]) assert.deepEqual(r.answer(sql, NOW), { kind: 'ok' });
    const checksum = r.answer('SELECT @master_binlog_checksum', NOW);
    assert.deepEqual(checksum, { kind: 'rows', columns: [{ name: '@master_binlog_checksum', type: ColumnType.VAR_STRING }], rows: [['CRC32']] });
    assert.deepEqual(r.answer('SET @mariadb_slave_capability=4', NOW), { kind: 'ok' });
    assert.deepEqual(rows(r, 'SELECT @@GLOBAL.gtid_domain_id'), [['0']]);
    for (const sql of ["SET @slave_connect_state='0-1-10,1-2-3'", 'SET @slave_gtid_strict_mode=1', 'SET @slave_gtid_ignore_duplicates=0', "SET @slave_until_gtid='0-1-20'"]) {
      assert.deepEqual(r.answer(sql, NOW), { kind: 'ok' });
    }
    assert.equal(r.variable('master_heartbeat_period'), 30000001024);
    assert.equal(r.variable('slave_connect_state'), '0-1-10,1-2-3');
    assert.equal(r.variable('SLAVE_UNTIL_GTID'), '0-1-20');
    assert.equal(r.variable('mariadb_slave_capability'), 4);
  });

  it('answers what mariadb-binlog --read-from-remote-server sends', () => {
    const r = new QueryResponder(system, '10.11.0-MariaDB-squirrel');
    assert.deepEqual(rows(r, 'SELECT VERSION()'), [['10.11.0-MariaDB-squirrel']]);
    assert.deepEqual(r.answer("SET @master_binlog_checksum='NONE'", NOW), { kind: 'ok' });
    assert.equal(r.variable('master_binlog_checksum'), 'NONE');
  });

  it('handles quoting, aliases, several items, LIMIT and unset variables', () => {
    const r = new QueryResponder(system, 'v');
    r.answer(`SET @a = 'it''s', @b := "x\\"y", @c = NULL`, NOW);
    const a = r.answer('select @a, @b AS bee, @c, @never, 42 limit 1', NOW);
    assert.equal(a.kind, 'rows');
    if (a.kind !== 'rows') return;
    assert.deepEqual(a.columns.map((c) => c.name), ['@a', 'bee', '@c', '@never', '42']);
    assert.deepEqual(a.rows, [["it's", 'x"y', null, null, '42']]);
  });

  it('matches SHOW VARIABLES LIKE patterns case-insensitively with % and _', () => {
    const r = new QueryResponder(system, 'v');
    assert.deepEqual(rows(r, "show global variables like 'gtid%'"), [['gtid_domain_id', '0']]);
    assert.deepEqual(rows(r, "SHOW VARIABLES LIKE 'server_i_'"), [['server_id', '4000000002']]);
    assert.deepEqual(rows(r, "SHOW VARIABLES LIKE 'nothing'"), []);
  });

  it('accepts other SET statements and refuses what it cannot answer, naming the statement', () => {
    const r = new QueryResponder(system, 'v');
    assert.deepEqual(r.answer('SET NAMES utf8mb4', NOW), { kind: 'ok' });
    assert.deepEqual(r.answer('SET SESSION sql_mode = ""', NOW), { kind: 'ok' });
    const a = r.answer('SELECT * FROM mysql.user', NOW);
    assert.equal(a.kind, 'error');
    if (a.kind === 'error') {
      assert.equal(a.errno, 1235);
      assert.match(a.message, /SELECT \* FROM mysql\.user/);
    }
    assert.equal(r.answer('SET @x = some_function()', NOW).kind, 'error');
  });
});
