import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import mysql from 'mysql2/promise';
import { parseMysqlUrl } from '../../../agent/config.js';
import { ProcessError } from '../../../agent/errors.js';
import { MariaDbServer } from '../../../agent/server/mariadb.js';

type Row = Record<string, unknown>;

describe('private MariaDB server', () => {
  let a: MariaDbServer;
  let b: MariaDbServer;
  before(async () => {
    // GIVEN two servers started at the same time, one with every option away from its default
    [a, b] = await Promise.all([
      MariaDbServer.start(),
      MariaDbServer.start({
        binlogFormat: 'STATEMENT',
        binlogRowImage: 'MINIMAL',
        serverId: 7,
        gtidStrictMode: false,
        binlogChecksum: 'NONE',
        syncBinlog: 0,
        innodbFlushLogAtTrxCommit: 2,
        rootPassword: 'other pass',
      }),
    ]);
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
  });

  it('runs side by side with its own port, socket and datadir', () => {
    assert.notEqual(a.port, b.port);
    assert.notEqual(a.socket, b.socket);
    assert.notEqual(a.datadir, b.datadir);
    for (const s of [a, b]) assert.ok(s.socket.length < 100, `socket path too long for sun_path: ${s.socket}`);
  });

  it('applies the defaults and every option', async () => {
    const vars = 'SELECT @@log_bin AS log_bin, @@binlog_format AS format, @@binlog_row_image AS image, @@server_id AS id, @@gtid_strict_mode AS strict, @@binlog_checksum AS checksum, @@sync_binlog AS sync, @@innodb_flush_log_at_trx_commit AS flush';
    const [ra] = await a.query<Row[]>(vars);
    assert.deepEqual(ra, { log_bin: 1, format: 'ROW', image: 'FULL', id: 1, strict: 1, checksum: 'CRC32', sync: 1, flush: 1 });
    const [rb] = await b.query<Row[]>(vars);
    assert.deepEqual(rb, { log_bin: 1, format: 'STATEMENT', image: 'MINIMAL', id: 7, strict: 0, checksum: 'NONE', sync: 0, flush: 2 });
  });

  it('takes TCP connections with the root password in its url and refuses a wrong one', async () => {
    for (const s of [a, b]) {
      const conn = await mysql.createConnection(parseMysqlUrl(s.url));
      const [[row]] = await conn.query<mysql.RowDataPacket[]>('SELECT @@port AS port');
      assert.equal(row?.port, s.port);
      await conn.end();
    }
    await assert.rejects(mysql.createConnection({ ...parseMysqlUrl(a.url), password: 'wrong' }), { code: 'ER_ACCESS_DENIED_ERROR' });
  });

  it('lists its binlog files from the index, as SHOW BINARY LOGS does', async () => {
    await a.query('CREATE DATABASE IF NOT EXISTS t; CREATE TABLE t.x (id INT PRIMARY KEY); INSERT INTO t.x VALUES (1); FLUSH BINARY LOGS');
    const files = await a.binlogFiles();
    const shown = await a.query<{ Log_name: string; File_size: number | string }[]>('SHOW BINARY LOGS');
    assert.deepEqual(files.map((f) => basename(f)), shown.map((r) => r.Log_name));
    assert.ok(files.every((f) => f.startsWith(a.binlogBasename)));
    assert.deepEqual(files.map((f) => statSync(f).size), shown.map((r) => Number(r.File_size)));
    const first = await a.readBinlogFile(shown[0]!.Log_name);
    assert.equal(first.subarray(0, 4).toString('latin1'), '\xfebin', 'binlog magic');
    assert.equal(first.length, Number(shown[0]!.File_size));
  });

  it('recovers committed rows after kill9 and restart on the same port', async () => {
    await a.query('CREATE DATABASE IF NOT EXISTS t; CREATE TABLE IF NOT EXISTS t.crash (id INT PRIMARY KEY); INSERT INTO t.crash VALUES (1), (2)');
    const port = a.port;
    const pid = a.pid;
    await a.kill9();
    assert.equal(a.running, false);
    await a.restart();
    assert.equal(a.port, port);
    assert.notEqual(a.pid, pid);
    assert.deepEqual(await a.query('SELECT id FROM t.crash ORDER BY id'), [{ id: 1 }, { id: 2 }]);
    assert.match(a.errorLog(), /ready for connections/);
  });

  it('removes its temporary directory on stop, and keeps a directory it was given', async () => {
    const given = mkdtempSync(join(tmpdir(), 'sq-given-'));
    try {
      const server = await MariaDbServer.start({ dir: given });
      const own = b.dir;
      await Promise.all([b.stop(), server.stop()]);
      assert.equal(existsSync(own), false, 'temporary directory removed');
      assert.equal(existsSync(join(given, 'data', 'mariadb-bin.index')), true, 'given directory kept');
      assert.equal(server.running, false);
    } finally {
      rmSync(given, { recursive: true, force: true });
    }
  });

  it('reports the error log when the server cannot start', async () => {
    await assert.rejects(MariaDbServer.start({ extraArgs: ['--no-such-option=1'] }), (err: unknown) => {
      assert.ok(err instanceof ProcessError);
      assert.match(err.message, /mariadbd: exited/);
      assert.match(err.hint ?? '', /unknown variable 'no-such-option=1'/);
      return true;
    });
  });
});
