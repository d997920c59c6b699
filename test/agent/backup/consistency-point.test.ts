import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DumpPositionScanner, parseMariabackupLine } from '../../../agent/backup/consistency-point.js';
import { backupIdOf, manifestKey, newBackupId } from '../../../agent/backup/manifest.js';

describe('consistency point from the tools\' output', () => {
  it('reads mariabackup\'s binlog position line', () => {
    assert.deepEqual(
      parseMariabackupLine("[00] 2026-11-25 12:38:21 MySQL binlog position: filename 'mariadb-bin.000002', position '344', GTID of the last change '0-1-57'"),
      { file: 'mariadb-bin.000002', pos: 344, gtid: '0-1-57' },
    );
    assert.deepEqual(parseMariabackupLine("MySQL binlog position: filename 'b.000001', position '4', GTID of the last change ''"), { file: 'b.000001', pos: 4, gtid: '' });
    assert.equal(parseMariabackupLine('[00] 2026-11-25 12:38:21 Streaming xtrabackup_binlog_info'), undefined);
  });

  it('reads a dump\'s CHANGE MASTER and gtid_slave_pos comments, in either order', () => {
    const s = new DumpPositionScanner();
    s.line("-- SET GLOBAL gtid_slave_pos='0-1-61';", 1);
    assert.equal(s.position, undefined);
    s.line("-- CHANGE MASTER TO MASTER_LOG_FILE='mariadb-bin.000003', MASTER_LOG_POS=615;", 2);
    s.line("-- CHANGE MASTER TO MASTER_LOG_FILE='other.000009', MASTER_LOG_POS=1;", 3);
    assert.deepEqual(s.position, { file: 'mariadb-bin.000003', pos: 615, gtid: '0-1-61' });
  });

  it('dates a dump\'s consistency point by when its snapshot position line arrived, not by the command start or the dump\'s end', () => {
    // GIVEN a dump's lines as they arrive: the header, the snapshot's position, data, the GTID line at the very end
    const arrivals: [string, number][] = [
      ['-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB', 1_000],
      ['-- CHANGE MASTER TO MASTER_USE_GTID=slave_pos;', 1_900],
      ["-- CHANGE MASTER TO MASTER_LOG_FILE='mariadb-bin.000001', MASTER_LOG_POS=1590;", 1_901],
      ['INSERT INTO `seq` VALUES (1,\'a\',1);', 5_000],
      ["-- SET GLOBAL gtid_slave_pos='0-1-7';", 9_000],
    ];
    const s = new DumpPositionScanner();
    for (const [i, [line, atMs]] of arrivals.entries()) {
      s.line(line, atMs);
      // THEN there is no time before the position line, and it is that line's time from then on
      assert.equal(s.consistentMs, i < 2 ? undefined : 1_901);
    }
    assert.deepEqual(s.position, { file: 'mariadb-bin.000001', pos: 1590, gtid: '0-1-7' });
  });
});

describe('backup ids and keys', () => {
  it('sort by time and name their directory', () => {
    const id = newBackupId(Date.UTC(2026, 0, 25, 12, 38, 21, 500), 'physical');
    assert.equal(id, '20260125T123821Z-physical');
    assert.ok(newBackupId(Date.UTC(2026, 0, 25, 12, 38, 22), 'logical') > id);
    const key = manifestKey('p/', 'c1', id);
    assert.equal(key, `p/c1/base/${id}/manifest.json`);
    assert.equal(backupIdOf('p/', 'c1', key), id);
    assert.equal(backupIdOf('p/', 'c1', 'p/c1/binlog/000001/x'), undefined);
  });
});
