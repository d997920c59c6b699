import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProtocolError } from '../../../agent/errors.js';
import { decodeEvent } from '../../../agent/binlog/decode.js';
import { BinlogParser } from '../../../agent/binlog/event-parser.js';
import { EventType, eventTypeName, isRowsEvent } from '../../../agent/binlog/event-types.js';
import { decodeFormatDescription, versionHasChecksumAlg } from '../../../agent/binlog/format-description.js';
import { decodeMariaGtid, MariaGtidFlag } from '../../../agent/binlog/maria-gtid.js';
import { decodeMariaGtidList, formatMariaGtid } from '../../../agent/binlog/maria-gtid-list.js';
import { decodeMysqlGtid } from '../../../agent/binlog/mysql-gtid.js';
import { decodeQuery } from '../../../agent/binlog/query.js';
import type { RawEvent } from '../../../agent/binlog/raw-event.js';
import { decodeRotate } from '../../../agent/binlog/rotate.js';
import { decodeRowsHeader } from '../../../agent/binlog/rows-header.js';
import { decodeTransactionPayload, decompressPayload } from '../../../agent/binlog/transaction-payload.js';
import { buildEvent, rawEvent, varUint } from './build.js';
import { readFixture } from './fixtures.js';

function eventsOf(rel: string): RawEvent[] {
  return new BinlogParser().feed(readFixture(rel));
}

function firstOfType(rel: string, type: EventType): RawEvent {
  const ev = eventsOf(rel).find((e) => e.header.typeCode === type);
  assert.ok(ev, `${rel} has no ${eventTypeName(type)}`);
  return ev;
}

describe('event types', () => {
  it('names codes as MANIFEST.md does, unknown ones TYPE_<n>', () => {
    const table: [number, string][] = [
      [1, 'START_V3'],
      [2, 'QUERY'],
      [15, 'FORMAT_DESCRIPTION'],
      [16, 'XID'],
      [22, 'DELETE_ROWS_V0'],
      [23, 'WRITE_ROWS_V1'],
      [27, 'HEARTBEAT'],
      [30, 'WRITE_ROWS_V2'],
      [33, 'GTID'],
      [34, 'ANONYMOUS_GTID'],
      [35, 'PREVIOUS_GTIDS'],
      [39, 'PARTIAL_UPDATE_ROWS'],
      [40, 'TRANSACTION_PAYLOAD'],
      [42, 'GTID_TAGGED'],
      [100, 'TYPE_100'],
      [160, 'MARIA_ANNOTATE_ROWS'],
      [162, 'MARIA_GTID'],
      [163, 'MARIA_GTID_LIST'],
      [165, 'MARIA_QUERY_COMPRESSED'],
      [169, 'MARIA_WRITE_ROWS_COMPRESSED'],
      [171, 'MARIA_DELETE_ROWS_COMPRESSED'],
      [172, 'TYPE_172'],
      [255, 'TYPE_255'],
    ];
    for (const [code, name] of table) assert.equal(eventTypeName(code), name, `code ${code}`);
  });

  it('knows which types carry rows', () => {
    assert.ok(isRowsEvent(EventType.WRITE_ROWS_V1) && isRowsEvent(EventType.PARTIAL_UPDATE_ROWS) && isRowsEvent(EventType.MARIA_UPDATE_ROWS_COMPRESSED_V1));
    assert.ok(!isRowsEvent(EventType.TABLE_MAP) && !isRowsEvent(EventType.QUERY));
  });
});

describe('FORMAT_DESCRIPTION', () => {
  it('expects the checksum algorithm byte from MySQL 5.6.1 and MariaDB 5.3 on', () => {
    const table: [string, boolean][] = [
      ['5.6.0', false],
      ['5.6.1', true],
      ['5.6.4-m7-debug-log', true],
      ['5.5.17-debug-log', false],
      ['5.1.63-google-debug-log', false],
      ['5.2.14-MariaDB', false],
      ['5.3.0-MariaDB', true],
      ['5.5.36-MariaDB-debug-log', true],
      ['10.11.6-MariaDB-log', true],
      ['8.0.40-debug', true],
      ['9.6.0', true],
      ['4.1.24-debug-log', false],
      ['not a version', false],
    ];
    for (const [version, expected] of table) assert.equal(versionHasChecksumAlg(version), expected, version);
  });

  it('reads version, header length, post-header lengths and checksum algorithm', () => {
    const table: [string, string, string, number][] = [
      ['mariadb/10.0/tiflow/mysql-bin.000001', '10.0.17-MariaDB-1~wheezy-log', 'NONE', 19],
      ['mysql/8.0/rust_mysql_common/json.binlog.000001', '8.0.22', 'CRC32', 19],
      ['mysql/5.1/canal/mysql-bin.000001', '5.1.34sp1-enterprise-gpl-advanced-log', 'n/a', 19],
      ['mysql/corrupt/mariadb-server/mdev-4645-binlog_group_id_checksum.binlog', '5.1.63-google-debug-log', 'n/a', 31],
    ];
    for (const [rel, version, checksum, headerLength] of table) {
      const ev = firstOfType(rel, EventType.FORMAT_DESCRIPTION);
      const fde = decodeFormatDescription(ev.bytes, ev.offset);
      assert.equal(fde.binlogVersion, 4, rel);
      assert.equal(fde.serverVersion, version, rel);
      assert.equal(fde.checksum, checksum, rel);
      assert.equal(fde.headerLength, headerLength, rel);
      assert.equal(fde.postHeaderLengths[EventType.QUERY - 1], 13, rel);
    }
  });
});

describe('QUERY', () => {
  it('skips the status variables and a longer common header to reach the statement', () => {
    for (const [suffix, headerLength] of [
      ['none', 19],
      ['checksum', 23],
      ['group_id', 27],
      ['group_id_checksum', 31],
    ] as const) {
      const events = eventsOf(`mysql/corrupt/mariadb-server/mdev-4645-binlog_${suffix}.binlog`);
      assert.equal(events[1]?.format.headerLength, headerLength);
      assert.deepEqual(
        events.slice(1).map((e) => decodeQuery(e).statement),
        ['create table test.t1 (id int not null)', 'insert into test.t1 (id) values (1)', 'drop table test.t1'],
        suffix,
      );
    }
  });

  it('fails cleanly on a status_vars_len past the end of the event (Bug#31793)', () => {
    const ev = eventsOf('mysql/corrupt/mariadb-server/corrupt-relay-bin.000624').find((e) => e.offset === 91204);
    assert.ok(ev);
    assert.throws(() => decodeQuery(ev), (err: unknown) => err instanceof ProtocolError && /status vars needs 16949 bytes/.test(err.message));
  });

  it('requires the NUL after the database name', () => {
    const bytes = buildEvent(EventType.QUERY, (w) => w.u32le(1).u32le(0).u8(2).u16le(0).u16le(0).string('dbXBEGIN'));
    assert.throws(() => decodeQuery(rawEvent(bytes)), /not NUL-terminated/);
  });
});

describe('ROTATE and XID', () => {
  it('reads the next file and position of a ROTATE', () => {
    const ev = firstOfType('mysql/5.1/canal/mysql-bin.000001', EventType.ROTATE);
    assert.deepEqual(decodeRotate(ev), { position: 4n, nextFile: 'mysql-bin.000002' });
  });

  it('reads the xid of an XID event', () => {
    const d = decodeEvent(rawEvent(buildEvent(EventType.XID, (w) => w.u64le(123456789n))));
    assert.deepEqual(d, { kind: 'xid', xid: { xid: 123456789n } });
  });
});

describe('MariaDB GTID and GTID_LIST', () => {
  it('reads domain, server, sequence and the standalone flag', () => {
    const events = eventsOf('mariadb/10.3/mariadb-server/master-bin-seq_10.3.36.000001').filter((e) => e.header.typeCode === EventType.MARIA_GTID);
    assert.deepEqual(
      events.map((e) => {
        const g = decodeMariaGtid(e);
        return [g.gtid, g.standalone, g.commitId];
      }),
      [
        ['0-1-1', true, undefined],
        ['0-1-100', false, 7n],
        ['0-1-101', false, 7n],
        ['0-1-102', true, undefined],
      ],
    );
  });

  it('reads the XA xid of an XA group and refuses parts longer than 64 bytes (MDEV-39404)', () => {
    const xa = (gtrid: number) =>
      rawEvent(
        buildEvent(
          EventType.MARIA_GTID,
          (w) => w.u64le(5n).u32le(0).u8(MariaGtidFlag.PREPARED_XA).u32le(1).u8(gtrid).u8(0).zeros(gtrid),
          { serverId: 9 },
        ),
      );
    assert.equal(decodeMariaGtid(xa(3)).gtid, '0-9-5');
    assert.throws(() => decodeMariaGtid(xa(65)), /xid parts of 65 and 0 bytes exceed 64/);
  });

  it("finds each file's GTID_LIST equal to the previous file's last GTID (MANIFEST's series claim)", () => {
    const series = ['000004', '000005', '000006', '000007'].map((n) => eventsOf(`mariadb/11.8/mariadb-poc/domain_id_0/mariadb-repl-bin.${n}`));
    for (let i = 1; i < series.length; i++) {
      const previous = series[i - 1] ?? [];
      const lastGtid = previous.filter((e) => e.header.typeCode === EventType.MARIA_GTID).map((e) => decodeMariaGtid(e).gtid).at(-1);
      const list = (series[i] ?? []).find((e) => e.header.typeCode === EventType.MARIA_GTID_LIST);
      assert.ok(list && lastGtid);
      assert.deepEqual(decodeMariaGtidList(list).gtids.map(formatMariaGtid), [lastGtid]);
    }
  });
});

describe('MySQL GTID events', () => {
  it('formats a GTID as uuid:gno and an anonymous one as none', () => {
    const gtid = decodeMysqlGtid(firstOfType('mysql/5.6/rust_mysql_common/binlog_transaction_with_GTID.000001', EventType.GTID));
    assert.equal(gtid.gtid, '006c2cf2-b1ea-11e4-9057-8c705a3d3e78:1');
    const anon = decodeMysqlGtid(firstOfType('mysql/8.0/rust_mysql_common/json.binlog.000001', EventType.ANONYMOUS_GTID));
    assert.equal(anon.anonymous, true);
    assert.equal(anon.gtid, undefined);
  });

  it('decodes the field-tagged GTID_TAGGED event of MySQL 9.6 as uuid:tag:gno', () => {
    const g = decodeMysqlGtid(firstOfType('mysql/9.6/rust_mysql_common/binlog_transaction_with_GTID_TAG.000001', EventType.GTID_TAGGED));
    assert.equal(g.gtid, '55778904-0299-11f1-b1b8-4ef0c4956feb:mytag:3');
    assert.equal(g.tag, 'mytag');
  });

  it('decodes varlen integers of every width, skips integer fields and stops at an ignorable unknown one', () => {
    const sid = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
    const gno = (1n << 60n) + 5n; // needs the 9-byte form once zig-zagged
    const fields = Buffer.concat([
      varUint(4n), varUint(2n ** 20n), // last_committed (skipped)
      varUint(1n), ...[...sid].map((b) => varUint(BigInt(b))),
      varUint(2n), varUint(gno << 1n),
      varUint(3n), varUint(3n), Buffer.from('abc'),
      varUint(0n), varUint(1n),
      varUint(40n), Buffer.from([0xff, 0xff]), // unknown ignorable field: the walk stops here
    ]);
    const body = (lastNonIgnorable: bigint): Buffer => {
      const head = Buffer.concat([varUint(lastNonIgnorable)]);
      const size = 1 + 1 + head.length + fields.length; // version + 1-byte payload_size + ...
      return Buffer.concat([Buffer.from([2]), varUint(BigInt(size)), head, fields]);
    };
    const ev = (b: Buffer) => rawEvent(buildEvent(EventType.GTID_TAGGED, (w) => w.bytes(b)));
    const g = decodeMysqlGtid(ev(body(11n)));
    assert.equal(g.gtid, `00112233-4455-6677-8899-aabbccddeeff:abc:${gno}`);
    assert.equal(g.flags, 1);
    assert.throws(() => decodeMysqlGtid(ev(body(50n))), /unknown non-ignorable field 40/);
  });
});

describe('TRANSACTION_PAYLOAD', () => {
  it('decompresses the zstd payload into complete events without checksums', () => {
    const ev = firstOfType('mysql/8.0/rust_mysql_common/transaction_compression.000001', EventType.TRANSACTION_PAYLOAD);
    const tp = decodeTransactionPayload(ev);
    assert.equal(tp.compression, 'ZSTD');
    const inner = new BinlogParser({ magic: false, format: { ...ev.format, checksum: 'NONE' } }).feed(decompressPayload(ev, tp));
    assert.deepEqual(
      inner.map((e) => eventTypeName(e.header.typeCode)),
      ['QUERY', 'TABLE_MAP', 'WRITE_ROWS_V2', 'XID'],
    );
    assert.equal(decodeQuery(inner[0] as RawEvent).statement, 'BEGIN');
  });

  it('passes an uncompressed payload through and rejects an unknown compression type', () => {
    const payload = Buffer.from('events');
    const tp = (type: number) =>
      rawEvent(
        buildEvent(EventType.TRANSACTION_PAYLOAD, (w) =>
          w.lenencInt(2).lenencInt(1).lenencInt(type).lenencInt(9).lenencInt(1).u8(0).lenencInt(1).lenencInt(1).lenencInt(payload.length).lenencInt(0).bytes(payload),
        ),
      );
    const none = tp(255);
    assert.deepEqual(decompressPayload(none, decodeTransactionPayload(none)), payload);
    assert.throws(() => decodeTransactionPayload(tp(7)), /unknown compression type 7/);
  });
});

describe('row event headers', () => {
  const rows = (extra: number[], type = EventType.WRITE_ROWS_V2) =>
    rawEvent(buildEvent(type, (w) => w.u48le(42).u16le(1).u16le(extra.length + 2).bytes(Buffer.from(extra)).u8(1).u8(0xff)));

  it('reads table id and flags, and walks well-formed extra data', () => {
    assert.deepEqual(decodeRowsHeader(rows([])), { tableId: 42, flags: 1 });
    assert.deepEqual(decodeRowsHeader(rows([0, 3, 0, 9])), { tableId: 42, flags: 1 });
    assert.deepEqual(decodeRowsHeader(rows([1, 0, 0, 1, 0], EventType.UPDATE_ROWS_V2)), { tableId: 42, flags: 1 });
    assert.deepEqual(decodeRowsHeader(rows([77, 1, 2, 3])), { tableId: 42, flags: 1 }); // unknown tag ends the walk, as in the servers
  });

  it('rejects the malformed extra data of MDEV-39485', () => {
    assert.throws(() => decodeRowsHeader(rows([0])), /tag without its length/);
    assert.throws(() => decodeRowsHeader(rows([0, 1, 0])), /extra row info length 1 is below 2/);
    assert.throws(() => decodeRowsHeader(rows([0, 9, 0])), /runs past the extra data/);
    assert.throws(() => decodeRowsHeader(rows([1, 0])), /partition info runs past/);
    assert.throws(
      () => decodeRowsHeader(rawEvent(buildEvent(EventType.WRITE_ROWS_V2, (w) => w.u48le(1).u16le(0).u16le(40).u8(0)))),
      /extra data length 40 runs past the end of the event/,
    );
  });

  it('flags every malformed event of the MDEV-39485 fixture', () => {
    const events = eventsOf('mariadb/corrupt/mariadb-server/invalid_row_v2_tag.001').filter((e) => e.header.typeCode === EventType.WRITE_ROWS_V2);
    assert.equal(events.length, 3);
    for (const ev of events) assert.throws(() => decodeRowsHeader(ev), ProtocolError, `event at ${ev.offset}`);
  });
});
