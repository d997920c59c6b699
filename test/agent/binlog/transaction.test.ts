import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DecodedEvent } from '../../../agent/binlog/decode.js';
import { EventType } from '../../../agent/binlog/event-types.js';
import { RowsFlag } from '../../../agent/binlog/rows-header.js';
import { TransactionTracker, classifyStatement, transactionRole, type TransactionRole } from '../../../agent/binlog/transaction.js';

describe('classifyStatement', () => {
  it('recognises the statements servers write to open and end transactions', () => {
    const table: [string, 'begin' | 'commit' | 'statement'][] = [
      ['BEGIN', 'begin'],
      ['begin', 'begin'],
      ["XA START X'31',X'',1", 'begin'],
      ['COMMIT', 'commit'],
      ['ROLLBACK', 'commit'],
      ["XA COMMIT X'31',X'',1", 'commit'],
      ["XA ROLLBACK X'31',X'',1", 'commit'],
      ['ROLLBACK TO SAVEPOINT a', 'statement'],
      ['SAVEPOINT a', 'statement'],
      ["XA END X'31',X'',1", 'statement'],
      ['BEGIN NOT ATOMIC SELECT 1; END', 'statement'],
      ['COMMIT_LOG_TABLE_INSERT', 'statement'],
      ['insert into t1 values (1)', 'statement'],
      ['CREATE TABLE t (a INT)', 'statement'],
    ];
    for (const [sql, expected] of table) assert.equal(classifyStatement(sql), expected, sql);
  });
});

describe('transactionRole', () => {
  const other = (typeCode: number): DecodedEvent => ({ kind: 'other', typeCode });
  const rows = (flags: number): DecodedEvent => ({ kind: 'rows', typeCode: EventType.WRITE_ROWS_V1, rows: { tableId: 1, flags } });
  const maria = (standalone: boolean): DecodedEvent => ({
    kind: 'maria-gtid',
    gtid: { domainId: 0, serverId: 1, seqNo: 1n, flags: standalone ? 1 : 0, standalone, gtid: '0-1-1' },
  });

  it('maps each event to its role', () => {
    const table: [string, DecodedEvent, TransactionRole][] = [
      ['MariaDB GTID', maria(false), 'gtid-begin'],
      ['MariaDB standalone GTID', maria(true), 'gtid-standalone'],
      ['MySQL GTID', { kind: 'mysql-gtid', gtid: { anonymous: true, flags: 0, uuid: '', gno: 0n } }, 'gtid'],
      ['XID', { kind: 'xid', xid: { xid: 1n } }, 'commit'],
      ['TRANSACTION_PAYLOAD', { kind: 'transaction-payload', payload: { compression: 'NONE', uncompressedSize: 0, payload: Buffer.alloc(0) } }, 'commit'],
      ['XA_PREPARE', other(EventType.XA_PREPARE), 'commit'],
      ['row event that ends its statement', rows(RowsFlag.STMT_END), 'statement'],
      ['row event inside a statement', rows(0), 'part'],
      ['TABLE_MAP', other(EventType.TABLE_MAP), 'part'],
      ['INTVAR', other(EventType.INTVAR), 'part'],
      ['ANNOTATE_ROWS', other(EventType.MARIA_ANNOTATE_ROWS), 'part'],
      ['QUERY_COMPRESSED', other(EventType.MARIA_QUERY_COMPRESSED), 'statement'],
      ['EXECUTE_LOAD_QUERY', other(EventType.EXECUTE_LOAD_QUERY), 'statement'],
      ['STOP', other(EventType.STOP), 'file-end'],
      ['ROTATE', { kind: 'rotate', rotate: { position: 4n, nextFile: 'b.2' } }, 'file-end'],
      ['PREVIOUS_GTIDS', other(EventType.PREVIOUS_GTIDS), 'none'],
      ['BINLOG_CHECKPOINT', other(EventType.MARIA_BINLOG_CHECKPOINT), 'none'],
      ['Aurora padding', other(100), 'none'],
    ];
    for (const [what, ev, role] of table) assert.equal(transactionRole(ev), role, what);
  });
});

describe('TransactionTracker', () => {
  /** Runs roles through a tracker; returns which steps ended a transaction, which left a boundary, and the count. */
  function run(roles: TransactionRole[]): { ended: string; boundary: string; count: number; cutOffs: number[] } {
    const t = new TransactionTracker();
    const steps = roles.map((r, i) => t.step(r, i * 10));
    return {
      ended: steps.map((s) => (s.ended ? 'E' : '.')).join(''),
      boundary: steps.map((s) => (s.boundary ? '|' : '.')).join(''),
      count: t.completed,
      cutOffs: steps.flatMap((s) => (s.cutOff === undefined ? [] : [s.cutOff])),
    };
  }

  const table: [string, TransactionRole[], string, string, number][] = [
    ['MariaDB DML ends at XID', ['none', 'gtid-begin', 'statement', 'part', 'part', 'commit'], '.....E', '|....|', 1],
    ['MariaDB DDL is the GTID and one statement', ['gtid-standalone', 'statement', 'gtid-standalone', 'statement'], '.E.E', '.|.|', 2],
    ['MariaDB non-transactional DML ends at QUERY COMMIT', ['gtid-begin', 'part', 'part', 'statement', 'commit'], '....E', '....|', 1],
    ['MySQL DDL after a GTID', ['gtid', 'statement'], '.E', '.|', 1],
    ['MySQL DML: GTID, BEGIN, rows, XID', ['gtid', 'begin', 'part', 'statement', 'commit'], '....E', '....|', 1],
    ['MySQL compressed transaction', ['gtid', 'commit'], '.E', '.|', 1],
    ['MySQL XA: prepare, then a one-statement XA COMMIT', ['gtid', 'begin', 'part', 'statement', 'statement', 'commit', 'gtid', 'commit'], '.....E.E', '.....|.|', 2],
    ['no GTIDs: BEGIN ... COMMIT', ['begin', 'statement', 'statement', 'commit'], '...E', '...|', 1],
    ['no GTIDs: auto-committed statements with context events', ['statement', 'part', 'statement', 'part', 'part', 'statement'], 'E.E..E', '|.|..|', 3],
    ['MySQL 5.1 rows without BEGIN end at STMT_END', ['part', 'statement', 'begin', 'statement', 'commit'], '.E..E', '.|..|', 2],
    ['LOAD DATA blocks belong to their statement', ['part', 'part', 'statement'], '..E', '..|', 1],
    ['neutral events keep the boundary', ['none', 'none', 'gtid', 'none', 'statement', 'none'], '....E.', '||..||', 1],
  ];

  it('finds where transactions end and where a chunk may end', () => {
    for (const [what, roles, ended, boundary, count] of table) {
      const r = run(roles);
      assert.equal(r.ended, ended, `${what}: ended`);
      assert.equal(r.boundary, boundary, `${what}: boundary`);
      assert.equal(r.count, count, `${what}: count`);
      assert.deepEqual(r.cutOffs, [], `${what}: nothing cut off`);
    }
  });

  it('reports a group cut off by a new GTID or by the end of the file, and does not count it', () => {
    const r = run(['gtid-begin', 'statement', 'gtid-begin', 'commit', 'begin', 'statement', 'file-end']);
    assert.deepEqual(r.cutOffs, [0, 40]);
    assert.equal(r.count, 1);
  });

  it('says where the open transaction started', () => {
    const t = new TransactionTracker();
    t.step('none', 4);
    assert.equal(t.openSince, undefined);
    t.step('gtid', 100);
    t.step('begin', 150);
    t.step('statement', 200);
    assert.equal(t.openSince, 100);
    t.step('commit', 300);
    assert.equal(t.openSince, undefined);
  });
});
