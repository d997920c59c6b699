import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Inspector, inspectBuffer, inspectFile, type InspectReport } from '../../../agent/binlog/inspect.js';
import { fixtureFiles, fixtureRoot, readFixture, readManifest } from './fixtures.js';

interface Expected {
  events: Record<string, number>;
  innerEvents?: Record<string, number>;
  transactions: number;
  checksum: InspectReport['checksum'];
  firstGtid?: string;
  lastGtid?: string;
  /** For a bad file: the offset of the first problem and what the message says. */
  error?: { offset: number; message: RegExp };
  openTransaction?: number;
}

/**
 * Hand-checked expectations (histograms from MANIFEST.md; GTIDs checked with mariadb-binlog where it
 * reads the file; transaction counts by reading the event sequence).
 */
const expected: Record<string, Expected> = {
  'mysql/8.0/mariadb-server/mdev35643_mysql_80_binlog.000001': {
    events: { FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, ANONYMOUS_GTID: 9, QUERY: 9, TABLE_MAP: 6, WRITE_ROWS_V2: 5, XID: 6, TRANSACTION_PAYLOAD: 1, PARTIAL_UPDATE_ROWS: 1, ROTATE: 1 },
    innerEvents: { QUERY: 1, TABLE_MAP: 100, WRITE_ROWS_V2: 100, XID: 1 },
    transactions: 9,
    checksum: 'CRC32',
  },
  'mysql/8.0/rust_mysql_common/transaction_compression.000001': {
    events: { FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, ANONYMOUS_GTID: 1, TRANSACTION_PAYLOAD: 1, ROTATE: 1 },
    innerEvents: { QUERY: 1, TABLE_MAP: 1, WRITE_ROWS_V2: 1, XID: 1 },
    transactions: 1,
    checksum: 'CRC32',
  },
  'mysql/8.0/mysql-binlog-connector-java/mysql-bin.compressed': {
    events: { FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, ANONYMOUS_GTID: 1, TRANSACTION_PAYLOAD: 1, ROTATE: 1 },
    innerEvents: { QUERY: 1, TABLE_MAP: 1, UPDATE_ROWS_V2: 1, XID: 1 },
    transactions: 1,
    checksum: 'CRC32',
  },
  'mysql/9.6/rust_mysql_common/binlog_transaction_with_GTID_TAG.000001': {
    events: { FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, GTID_TAGGED: 1, QUERY: 1, TABLE_MAP: 1, WRITE_ROWS_V2: 1, XID: 1, ROTATE: 1 },
    transactions: 1,
    checksum: 'CRC32',
    firstGtid: '55778904-0299-11f1-b1b8-4ef0c4956feb:mytag:3',
    lastGtid: '55778904-0299-11f1-b1b8-4ef0c4956feb:mytag:3',
  },
  'mysql/8.0/rust_mysql_common/mysql-enum-string-set.000001': {
    events: { FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, GTID: 5, QUERY: 5, TABLE_MAP: 3, WRITE_ROWS_V2: 1, XID: 3, UPDATE_ROWS_V2: 1, DELETE_ROWS_V2: 1 },
    transactions: 5,
    checksum: 'CRC32',
    firstGtid: '93e95066-a2f4-11ec-9b69-9657f0ae95e2:1',
    lastGtid: '93e95066-a2f4-11ec-9b69-9657f0ae95e2:5',
  },
  'mysql/5.7/binlog-parser/gtid-mysql-bin.01': {
    events: { FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, GTID: 17, QUERY: 17, TABLE_MAP: 10, WRITE_ROWS_V2: 7, XID: 4, UPDATE_ROWS_V2: 2, DELETE_ROWS_V2: 1 },
    transactions: 17,
    checksum: 'CRC32',
    firstGtid: '10440e47-3885-11eb-ac5b-0242ac110002:6',
    lastGtid: '10440e47-3885-11eb-ac5b-0242ac110002:22',
  },
  'mysql/5.6/rust_mysql_common/binlog_transaction_with_GTID.000001': {
    events: { FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, GTID: 3, QUERY: 5, STOP: 1 },
    transactions: 3,
    checksum: 'CRC32',
    firstGtid: '006c2cf2-b1ea-11e4-9057-8c705a3d3e78:1',
    lastGtid: '006c2cf2-b1ea-11e4-9057-8c705a3d3e78:3',
  },
  'mysql/8.0/rust_mysql_common/rpl_unfiltered_hidden_gcol.000001': {
    events: { FORMAT_DESCRIPTION: 2, PREVIOUS_GTIDS: 1, ROTATE: 2, ANONYMOUS_GTID: 3, QUERY: 3, TABLE_MAP: 1, WRITE_ROWS_V2: 1, XID: 1, STOP: 1 },
    transactions: 3,
    checksum: 'CRC32',
  },
  'mysql/5.7/mysql-binlog-connector-java/mysql-bin.checksum-crc32': {
    events: { FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, ANONYMOUS_GTID: 60, QUERY: 60, TABLE_MAP: 60, WRITE_ROWS_V2: 34, XID: 60, UPDATE_ROWS_V2: 20, DELETE_ROWS_V2: 6, ROTATE: 1 },
    transactions: 60,
    checksum: 'CRC32',
  },
  'mysql/5.7/mysql-binlog-connector-java/mysql-bin.checksum-none': {
    events: { FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, ANONYMOUS_GTID: 40, QUERY: 40, TABLE_MAP: 36, WRITE_ROWS_V2: 34, XID: 36, UPDATE_ROWS_V2: 2, STOP: 1 },
    transactions: 40,
    checksum: 'NONE',
  },
  'mysql/5.7/mysql-binlog-connector-java/mysql-bin.aurora-padding': {
    events: { FORMAT_DESCRIPTION: 1, PREVIOUS_GTIDS: 1, ANONYMOUS_GTID: 1, TYPE_100: 1, QUERY: 1 },
    transactions: 0,
    checksum: 'CRC32',
    openTransaction: 216, // the file was cut after BEGIN
  },
  'mysql/5.1/mariadb-server/ver_5_1_23.001': {
    events: { FORMAT_DESCRIPTION: 1, QUERY: 9, TABLE_MAP: 3, WRITE_ROWS_V1: 1, UPDATE_ROWS_V1: 1, DELETE_ROWS_V1: 1, XID: 1, USER_VAR: 1, RAND: 1, INTVAR: 1, BEGIN_LOAD_QUERY: 1, APPEND_BLOCK: 1, EXECUTE_LOAD_QUERY: 1, STOP: 1 },
    transactions: 11, // 3 DDL, 3 MyISAM row statements without BEGIN, 1 BEGIN..XID, 3 statements with context, 1 LOAD DATA
    checksum: 'n/a',
  },
  'mysql/5.0/mariadb-server/binlog_transaction.000001': {
    events: { FORMAT_DESCRIPTION: 1, QUERY: 17, XID: 1, ROTATE: 1 },
    transactions: 9,
    checksum: 'n/a',
  },
  'mysql/4.x/mariadb-server/binlog_old_version_4_1.000001': {
    events: { START_V3: 1, QUERY: 5, USER_VAR: 1, RAND: 1, INTVAR: 1, CREATE_FILE: 1, APPEND_BLOCK: 1, EXEC_LOAD: 1 },
    transactions: 6,
    checksum: 'n/a',
  },
  'mariadb/10.0/tiflow/mysql-bin.000001': {
    events: { FORMAT_DESCRIPTION: 1, MARIA_GTID_LIST: 1, MARIA_BINLOG_CHECKPOINT: 1, MARIA_GTID: 20, TABLE_MAP: 8, DELETE_ROWS_V1: 1, QUERY: 13, WRITE_ROWS_V1: 7, XID: 7 },
    transactions: 20,
    checksum: 'NONE',
    firstGtid: '0-1-1',
    lastGtid: '0-1-20',
  },
  'mariadb/10.3/mariadb-server/master-bin-seq_10.3.36.000001': {
    events: { FORMAT_DESCRIPTION: 1, MARIA_GTID_LIST: 1, MARIA_BINLOG_CHECKPOINT: 1, MARIA_GTID: 4, QUERY: 4, MARIA_ANNOTATE_ROWS: 2, TABLE_MAP: 2, WRITE_ROWS_V1: 2 },
    transactions: 4,
    checksum: 'CRC32',
    firstGtid: '0-1-1',
    lastGtid: '0-1-102',
  },
  'mariadb/10.5/rust_mysql_common/mariadb-bin.000001': {
    events: { FORMAT_DESCRIPTION: 1, MARIA_GTID_LIST: 1, MARIA_BINLOG_CHECKPOINT: 1, MARIA_GTID: 2, MARIA_ANNOTATE_ROWS: 2, TABLE_MAP: 2, WRITE_ROWS_V1: 2, XID: 2 },
    transactions: 2,
    checksum: 'CRC32',
    firstGtid: '0-1-1',
    lastGtid: '0-1-2',
  },
  'mariadb/11.8/mariadb-poc/domain_id_1/mariadb-repl-bin.000002': {
    events: { FORMAT_DESCRIPTION: 1, MARIA_GTID_LIST: 1, MARIA_BINLOG_CHECKPOINT: 1, MARIA_GTID: 12, QUERY: 12, ROTATE: 1 },
    transactions: 12,
    checksum: 'CRC32',
    firstGtid: '1-10-1',
    lastGtid: '1-10-12',
  },
  'mariadb/11.8/mariadb-poc/domain_id_0/mariadb-repl-bin.000004': {
    events: { FORMAT_DESCRIPTION: 1, MARIA_GTID_LIST: 1, MARIA_BINLOG_CHECKPOINT: 2, MARIA_GTID: 405, QUERY: 1620, XID: 405, ROTATE: 1 },
    transactions: 405,
    checksum: 'CRC32',
    firstGtid: '0-10-262176',
    lastGtid: '0-10-262580',
  },
  'mariadb/5.5/mariadb-server/mariadb-5.5-binlog.000001': {
    events: { FORMAT_DESCRIPTION: 1, QUERY: 8, XID: 3, STOP: 1 },
    transactions: 4,
    checksum: 'NONE',
  },
  'mariadb/10.4/mariadb-server/binlog-header.binlog': {
    events: { FORMAT_DESCRIPTION: 1 },
    transactions: 0,
    checksum: 'CRC32',
  },
  // Google-patched 5.1 files with 19-31-byte common headers (MDEV-4645): odd, not bad.
  ...Object.fromEntries(
    ['none', 'checksum', 'group_id', 'group_id_checksum'].map((v) => [
      `mysql/corrupt/mariadb-server/mdev-4645-binlog_${v}.binlog`,
      { events: { FORMAT_DESCRIPTION: 1, QUERY: 3 }, transactions: 3, checksum: 'n/a' } satisfies Expected,
    ]),
  ),
  // Corrupt, truncated and odd inputs.
  'mysql/corrupt/rust_mysql_common/binlog_truncated_prev_gtid_event.000001': {
    events: { FORMAT_DESCRIPTION: 1 },
    transactions: 0,
    checksum: 'CRC32',
    error: { offset: 120, message: /file ends inside an event header \(9 of 19 bytes\)/ },
  },
  'mysql/corrupt/mariadb-server/bug11747416_32228_binlog.000001': {
    events: { FORMAT_DESCRIPTION: 1, QUERY: 2, TABLE_MAP: 1 },
    transactions: 1,
    checksum: 'n/a',
    error: { offset: 316, message: /file ends inside a 65567-byte event \(7876 bytes present\)/ },
    openTransaction: 207,
  },
  'mysql/corrupt/mariadb-server/corrupt-relay-bin.000624': {
    events: { FORMAT_DESCRIPTION: 2, ROTATE: 2, QUERY: 454, INTVAR: 233, XID: 183 },
    transactions: 240,
    checksum: 'n/a',
    error: { offset: 91204, message: /status vars needs 16949 bytes/ },
  },
  'mysql/corrupt/mariadb-server/trunc_binlog.000001': {
    events: { START_V3: 1, QUERY: 2 },
    transactions: 0,
    checksum: 'n/a',
    openTransaction: 79, // BEGIN + INSERT, no COMMIT: well-formed bytes, an unfinished transaction
  },
  'mariadb/corrupt/mariadb-server/mdev-39404-binlog.000001': {
    events: { FORMAT_DESCRIPTION: 1, MARIA_GTID: 1 },
    transactions: 0,
    checksum: 'CRC32',
    error: { offset: 256, message: /^crc32 mismatch$/ },
  },
  'mariadb/corrupt/mariadb-server/invalid_row_v2_tag.001': {
    events: { FORMAT_DESCRIPTION: 1, WRITE_ROWS_V2: 3 },
    transactions: 0,
    checksum: 'NONE',
    error: { offset: 256, message: /extra row info tag without its length and format/ },
  },
  'mariadb/corrupt/mariadb-server/binlog_before_20574.bin': {
    // The walk stops at the first encrypted event; MANIFEST's histogram past it is noise.
    events: { FORMAT_DESCRIPTION: 1, MARIA_START_ENCRYPTION: 1 },
    transactions: 0,
    checksum: 'CRC32',
    error: { offset: 296, message: /encrypted and cannot be read without the key/ },
  },
};

/** Where inspect deliberately differs from MANIFEST.md's header walk, and why. */
const manifestExceptions: Record<string, string> = {
  'mariadb/corrupt/mariadb-server/binlog_before_20574.bin':
    'events after START_ENCRYPTION are encrypted: their type codes and CRCs are noise, so inspect stops at the first one',
};

describe('inspect', () => {
  const files = fixtureFiles();
  const manifest = readManifest();
  const reports = new Map(files.map((rel) => [rel, inspectBuffer(readFixture(rel), rel)]));

  it('finds every fixture MANIFEST.md lists, and MANIFEST lists every fixture', () => {
    assert.deepEqual([...manifest.keys()].sort(), files);
    assert.ok(files.length >= 52);
  });

  it('matches the hand-checked expectations for representative and every corrupt fixture', () => {
    for (const [rel, want] of Object.entries(expected)) {
      const r = reports.get(rel);
      assert.ok(r, `${rel} is not among the fixtures`);
      assert.deepEqual(r.events, want.events, `${rel}: events`);
      assert.deepEqual(r.innerEvents, want.innerEvents ?? {}, `${rel}: inner events`);
      assert.equal(r.transactions, want.transactions, `${rel}: transactions`);
      assert.equal(r.checksum, want.checksum, `${rel}: checksum`);
      assert.equal(r.firstGtid, want.firstGtid ?? null, `${rel}: first GTID`);
      assert.equal(r.lastGtid, want.lastGtid ?? null, `${rel}: last GTID`);
      assert.equal(r.ok, want.error === undefined, `${rel}: ok`);
      if (want.error) {
        assert.equal(r.error?.offset, want.error.offset, `${rel}: error offset`);
        assert.match(r.error?.message ?? '', want.error.message, `${rel}: error message`);
      }
      assert.equal(r.openTransaction?.offset ?? null, want.openTransaction ?? null, `${rel}: open transaction`);
    }
    for (const corrupt of files.filter((f) => f.includes('/corrupt/'))) assert.ok(corrupt in expected, `${corrupt} needs a hand-checked row`);
    assert.ok(Object.keys(expected).length >= 15);
  });

  it('agrees with MANIFEST.md on every fixture: histogram, checksum, CRC32 counts, last event and verdict', () => {
    for (const rel of files) {
      const r = reports.get(rel);
      const m = manifest.get(rel);
      assert.ok(r);
      if (!m) continue; // an unlisted new fixture: the listing test above names it
      assert.equal(r.sizeBytes, m.sizeBytes, `${rel}: size`);
      const bad = m.marker === 'BAD INPUT' || m.marker === 'ENCRYPTED';
      assert.equal(r.ok, !bad, `${rel}: ok (MANIFEST marker ${m.marker ?? 'none'})${r.error ? `: ${r.error.message}` : ''}`);
      if (!r.ok) {
        assert.ok(r.error && Number.isInteger(r.error.offset) && r.error.offset >= 0 && r.error.offset <= r.sizeBytes, `${rel}: error offset`);
        assert.ok(r.error.message.length > 0);
      }
      assert.equal(r.checksum, m.checksum, `${rel}: checksum`);
      if (rel in manifestExceptions) continue;
      assert.deepEqual(r.events, m.events, `${rel}: histogram`);
      assert.equal(r.eventCount, m.eventCount, `${rel}: event count`);
      assert.equal(r.lastEvent, m.lastEvent, `${rel}: last event`);
      if (m.crc32) {
        // MANIFEST does not count the FORMAT_DESCRIPTION events; inspect checks theirs too.
        const fdes = r.events.FORMAT_DESCRIPTION ?? 0;
        assert.deepEqual(r.crc32, { checked: m.crc32.ok + m.crc32.bad + fdes, ok: m.crc32.ok + fdes, bad: m.crc32.bad }, `${rel}: crc32`);
      }
      if (m.checksum !== 'CRC32') assert.equal(r.crc32.checked, 0, `${rel}: nothing to check`);
    }
  });

  it('reports the server version, binlog version, in-use flag and event times', () => {
    const relay = reports.get('mysql/corrupt/mariadb-server/corrupt-relay-bin.000624');
    assert.deepEqual(relay?.serverVersions, ['5.0.46-enterprise-gpl-log', '5.0.30-enterprise-gpl-log']);
    const v3 = reports.get('mysql/4.x/mariadb-server/binlog_old_version_4_1.000001');
    assert.equal(v3?.serverVersion, '4.1.24-debug-log');
    assert.equal(v3?.binlogVersion, 3);
    const open = reports.get('mariadb/10.0/tiflow/mysql-bin.000001');
    assert.equal(open?.inUse, true);
    assert.equal(open?.firstEventTime, '2022-05-16T14:44:22.000Z');
    assert.equal(open?.lastEventTime, '2022-05-18T03:10:02.000Z');
    assert.equal(reports.get('mariadb/11.8/mariadb-poc/domain_id_0/mariadb-repl-bin.000001')?.inUse, false);
  });

  it('gives the same report however the file is split into chunks', () => {
    for (const rel of files) {
      const buf = readFixture(rel);
      for (const size of buf.length <= 8192 ? [1, 7, 4096] : [4093]) {
        const inspector = new Inspector(rel);
        for (let i = 0; i < buf.length; i += size) inspector.feed(buf.subarray(i, i + size));
        assert.deepEqual(inspector.finish(), reports.get(rel), `${rel} in ${size}-byte chunks`);
      }
    }
  });

  it('streams a file from disk to the same report', async () => {
    const rel = 'mysql/8.0/mysql-cdc-rs/binlog.000693';
    const fromDisk = await inspectFile(join(fixtureRoot, rel));
    assert.deepEqual({ ...fromDisk, file: rel }, reports.get(rel));
  });

  it('rejects what is not a binlog, naming offset 0', () => {
    const r = inspectBuffer(Buffer.from('hello world'), 'notes.txt');
    assert.equal(r.ok, false);
    assert.equal(r.error?.offset, 0);
    assert.match(r.error?.message ?? '', /not a binlog: magic/);
    assert.equal(inspectBuffer(Buffer.alloc(0), 'empty').error?.message, 'empty file: no binlog magic');
  });

  it('names the first bad event when a CRC32 is damaged, and keeps counting after it', () => {
    const rel = 'mariadb/11.8/mariadb-poc/domain_id_0/mariadb-repl-bin.000010';
    const buf = Buffer.from(readFixture(rel));
    const good = reports.get(rel);
    assert.ok(good);
    const at = 1000;
    buf[at] = (buf[at] ?? 0) ^ 0x55;
    const r = inspectBuffer(buf, rel);
    assert.equal(r.ok, false);
    assert.equal(r.error?.message, 'crc32 mismatch');
    assert.ok(r.error && r.error.offset <= at && r.error.offset > at - 200);
    assert.equal(r.crc32.bad, 1);
    assert.equal(r.eventCount, good.eventCount);
  });
});
