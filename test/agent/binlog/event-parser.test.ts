import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProtocolError } from '../../../agent/errors.js';
import { BINLOG_MAGIC, BinlogParser, MAX_EVENT_SIZE_BYTES, type BinlogParserOptions } from '../../../agent/binlog/event-parser.js';
import { EventType } from '../../../agent/binlog/event-types.js';
import { decodeQuery } from '../../../agent/binlog/query.js';
import type { RawEvent } from '../../../agent/binlog/raw-event.js';
import { PacketWriter } from '../../../agent/protocol/packet-writer.js';
import { fixtureFiles, readFixture } from './fixtures.js';

interface Outcome {
  events: RawEvent[];
  error: string | null;
}

/** Feeds `pieces` one after the other, pulling events with next() so none is lost to an error. */
function run(pieces: Buffer[], opts: BinlogParserOptions = { onChecksumMismatch: 'report' }): Outcome {
  const parser = new BinlogParser(opts);
  const events: RawEvent[] = [];
  try {
    for (const piece of pieces) {
      parser.push(piece);
      for (let ev = parser.next(); ev; ev = parser.next()) events.push(ev);
    }
    parser.end();
    return { events, error: null };
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw err;
    return { events, error: err.message };
  }
}

function assertSameOutcome(actual: Outcome, expected: Outcome, label: string): void {
  assert.equal(actual.error, expected.error, `${label}: error`);
  assert.equal(actual.events.length, expected.events.length, `${label}: event count`);
  actual.events.forEach((ev, i) => {
    const want = expected.events[i];
    assert.ok(want);
    assert.equal(ev.offset, want.offset, `${label}: offset of event ${i}`);
    assert.equal(ev.checksum, want.checksum, `${label}: checksum of event ${i}`);
    assert.deepEqual(ev.header, want.header, `${label}: header of event ${i}`);
    assert.ok(ev.bytes.equals(want.bytes), `${label}: bytes of event ${i}`);
    assert.deepEqual(ev.format, want.format, `${label}: format of event ${i}`);
  });
}

function flip(buf: Buffer, at: number): void {
  buf[at] = (buf[at] ?? 0) ^ 0xff;
}

function chunks(buf: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, i + size));
  return out;
}

/** magic + a minimal MySQL 5.7 FORMAT_DESCRIPTION with CRC32, then `events`. */
function crcBinlog(...events: Buffer[]): Buffer {
  const fde = new PacketWriter()
    .u32le(1_700_000_000)
    .u8(EventType.FORMAT_DESCRIPTION)
    .u32le(1)
    .u32le(0)
    .u32le(0)
    .u16le(0)
    .u16le(4)
    .paddedString('5.7.30-log', 50)
    .u32le(0)
    .u8(19)
    .bytes(Buffer.alloc(38, 0))
    .u8(1) // checksum_alg CRC32
    .finishEvent(true);
  return Buffer.concat([BINLOG_MAGIC, fde, ...events]);
}

function xid(n: number, checksum = true): Buffer {
  return new PacketWriter().u32le(1_700_000_001).u8(EventType.XID).u32le(1).u32le(0).u32le(0).u16le(0).u64le(n).finishEvent(checksum);
}

describe('BinlogParser', () => {
  const files = fixtureFiles();

  it('frames every fixture the same whether it arrives whole, split once at any byte, or byte by byte', () => {
    let splitFiles = 0;
    for (const rel of files) {
      const buf = readFixture(rel);
      const whole = run([buf]);
      if (buf.length <= 4096) {
        splitFiles++;
        for (let cut = 0; cut <= buf.length; cut++) {
          assertSameOutcome(run([buf.subarray(0, cut), buf.subarray(cut)]), whole, `${rel} split at ${cut}`);
        }
      }
      if (buf.length <= 200_000) assertSameOutcome(run(chunks(buf, 1)), whole, `${rel} byte by byte`);
      assertSameOutcome(run(chunks(buf, 4093)), whole, `${rel} in 4093-byte chunks`);
    }
    assert.ok(splitFiles >= 20, `only ${splitFiles} fixtures are small enough to split everywhere`);
  });

  it('gives events offsets that tile the file after the magic', () => {
    for (const rel of files) {
      const { events } = run([readFixture(rel)]);
      let expected = 4;
      for (const ev of events) {
        assert.equal(ev.offset, expected, rel);
        assert.equal(ev.bytes.length, ev.header.eventSize, rel);
        expected += ev.bytes.length;
      }
    }
  });

  it('hands out events one at a time with push and next, keeping a partial event for later', () => {
    const file = crcBinlog(xid(1), xid(2));
    const parser = new BinlogParser();
    parser.push(file.subarray(0, file.length - 5));
    const first = [parser.next(), parser.next()];
    assert.equal(first[1]?.header.typeCode, EventType.XID);
    assert.equal(parser.next(), undefined);
    assert.equal(parser.pendingBytes, xid(2).length - 5);
    parser.push(file.subarray(file.length - 5));
    assert.equal(parser.next()?.offset, file.length - xid(2).length);
    assert.equal(parser.position, file.length);
    parser.end();
  });

  it('verifies CRC32 once the FORMAT_DESCRIPTION says so', () => {
    const events = new BinlogParser().feed(crcBinlog(xid(7)));
    assert.deepEqual(
      events.map((e) => e.checksum),
      ['ok', 'ok'],
    );
    assert.equal(events[1]?.format.checksum, 'CRC32');
  });

  it('throws a ProtocolError naming the byte offset on a CRC32 mismatch', () => {
    const file = crcBinlog(xid(1), xid(2));
    const badAt = file.length - xid(2).length;
    flip(file, badAt + 20); // a byte of the second XID's body
    assert.throws(
      () => new BinlogParser({ source: 'binlog.000001' }).feed(file),
      (err: unknown) =>
        err instanceof ProtocolError &&
        err.where.offset === badAt &&
        err.where.file === 'binlog.000001' &&
        /crc32 mismatch/.test(err.message) &&
        err.message.includes(`at byte ${badAt}`),
    );
  });

  it('reports a CRC32 mismatch as a verdict when asked to, and goes on', () => {
    const file = crcBinlog(xid(1), xid(2));
    flip(file, file.length - xid(2).length - 3); // the first XID's stored CRC
    const events = new BinlogParser({ onChecksumMismatch: 'report' }).feed(file);
    assert.deepEqual(
      events.map((e) => e.checksum),
      ['ok', 'bad', 'ok'],
    );
  });

  it('accepts the CRC32 of a FORMAT_DESCRIPTION still flagged in use (the server sums it with the flag clear)', () => {
    const events = new BinlogParser().feed(readFixture('mysql/8.0/rust_mysql_common/json.binlog.000001'));
    assert.equal(events[0]?.header.flags, 1);
    assert.equal(events[0]?.checksum, 'ok');
  });

  it('rejects input that does not start with the binlog magic', () => {
    assert.throws(() => new BinlogParser().feed(Buffer.from('GIF89a')), /not a binlog: magic is 474946/);
  });

  it('rejects an empty file and a file that stops inside the magic', () => {
    assert.throws(() => new BinlogParser().end(), /empty file/);
    const parser = new BinlogParser();
    parser.feed(BINLOG_MAGIC.subarray(0, 2));
    assert.throws(() => parser.end(), /inside the magic/);
  });

  it('rejects an event size below the header as soon as the size is readable', () => {
    const header = Buffer.alloc(13);
    header.writeUInt32LE(12, 9);
    header[4] = EventType.QUERY;
    assert.throws(
      () => new BinlogParser().feed(Buffer.concat([BINLOG_MAGIC, header])),
      (err: unknown) => err instanceof ProtocolError && /event size 12 is below the 19-byte minimum/.test(err.message) && err.where.offset === 4,
    );
  });

  it('requires room for the CRC32 when the format has one', () => {
    const short = new PacketWriter().u32le(0).u8(EventType.STOP).u32le(1).u32le(19).u32le(0).u16le(0).toBuffer();
    assert.throws(() => new BinlogParser().feed(crcBinlog(short)), /event size 19 is below the 23-byte minimum/);
  });

  it('refuses an absurd event size before buffering the event', () => {
    const header = Buffer.alloc(13);
    header.writeUInt32LE(0xffffffff, 9);
    assert.throws(() => new BinlogParser().feed(Buffer.concat([BINLOG_MAGIC, header])), new RegExp(`exceeds the ${MAX_EVENT_SIZE_BYTES}-byte limit`));
    header.writeUInt32LE(2048, 9);
    assert.throws(() => new BinlogParser({ maxEventSizeBytes: 1024 }).feed(Buffer.concat([BINLOG_MAGIC, header])), /exceeds the 1024-byte limit/);
  });

  it('says where and how the input stopped inside an event', () => {
    const { error } = run([readFixture('mysql/corrupt/mariadb-server/bug11747416_32228_binlog.000001')]);
    assert.match(error ?? '', /file ends inside a 65567-byte event \(7876 bytes present\) \(WRITE_ROWS_V1 event at byte 316\)/);
    const header = run([readFixture('mysql/corrupt/rust_mysql_common/binlog_truncated_prev_gtid_event.000001')]);
    assert.match(header.error ?? '', /file ends inside an event header \(9 of 19 bytes\) \(event header at byte 120\)/);
  });

  it('stays failed: every call after an error throws the same error', () => {
    const parser = new BinlogParser();
    assert.throws(() => parser.feed(Buffer.from('nope')));
    assert.throws(() => parser.feed(Buffer.from('more')), /not a binlog/);
    assert.throws(() => parser.end(), /not a binlog/);
  });

  it('reads a dump stream without the magic from a given offset and format', () => {
    const file = readFixture('mariadb/10.3/mariadb-server/mdev29078-mysql-bin.000001');
    const fromFile = new BinlogParser().feed(file);
    const fromStream = new BinlogParser({ magic: false, startOffset: 4 }).feed(file.subarray(4));
    assert.deepEqual(
      fromStream.map((e) => [e.offset, e.checksum]),
      fromFile.map((e) => [e.offset, e.checksum]),
    );
    // events after the FDE, with the checksum known beforehand (as after SET @master_binlog_checksum)
    const afterFde = fromFile[1]?.offset ?? 0;
    const tail = new BinlogParser({ magic: false, startOffset: afterFde, format: fromFile[0]?.format }).feed(file.subarray(afterFde));
    assert.equal(tail.length, fromFile.length - 1);
    assert.ok(tail.every((e) => e.checksum === 'ok'));
  });

  it('reads binlog v1 (13-byte headers, told apart by the START_V3 size) and v3 files', () => {
    const v1Header = (type: number, size: number): PacketWriter =>
      new PacketWriter().u32le(1_000_000_000).u8(type).u32le(1).u32le(size);
    const start = v1Header(EventType.START_V3, 69).u16le(1).paddedString('3.23.58-log', 50).u32le(0).toBuffer();
    const query = v1Header(EventType.QUERY, 13 + 11 + 5 + 6).u32le(7).u32le(0).u8(4).u16le(0).nulString('test').string('SELECT').toBuffer();
    const stop = v1Header(EventType.STOP, 13).toBuffer();
    const events = new BinlogParser().feed(Buffer.concat([BINLOG_MAGIC, start, query, stop]));
    assert.deepEqual(
      events.map((e) => [e.header.typeCode, e.format.binlogVersion, e.format.headerLength]),
      [
        [EventType.START_V3, 1, 13],
        [EventType.QUERY, 1, 13],
        [EventType.STOP, 1, 13],
      ],
    );
    const q = events[1];
    assert.ok(q);
    assert.deepEqual(decodeQuery(q), { threadId: 7, execTimeSeconds: 0, errorCode: 0, database: 'test', statement: 'SELECT' });

    const v3 = new BinlogParser().feed(readFixture('mysql/corrupt/mariadb-server/trunc_binlog.000001'));
    assert.equal(v3[0]?.format.binlogVersion, 3);
    assert.equal(v3[0]?.format.serverVersion, '4.0.23-debug-log');
    assert.equal(decodeQuery(v3[2] as RawEvent).statement, 'insert t1 values (1)');
  });
});
