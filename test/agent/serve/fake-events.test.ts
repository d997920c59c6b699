import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EventType } from '../../../agent/binlog/event-types.js';
import { BinlogParser } from '../../../agent/binlog/event-parser.js';
import { decodeFormatDescription } from '../../../agent/binlog/format-description.js';
import { DumpDecoder, eventChecksumMatches, type StreamEvent } from '../../../agent/protocol/dump-decoder.js';
import { fakeGtidList, fakeRotate, formatDescriptionToSend, GTID_LIST_UNTIL_REACHED, heartbeat } from '../../../agent/serve/fake-events.js';
import { readFixture } from '../binlog/fixtures.js';

function decode(decoder: DumpDecoder, event: Buffer): StreamEvent {
  const item = decoder.decode(Buffer.concat([Buffer.from([0]), event]));
  assert.equal(item.kind, 'event');
  return (item as { event: StreamEvent }).event;
}

describe('made-up dump events', () => {
  it('a fake ROTATE names the file, is artificial, and carries a CRC32 only when asked', () => {
    const crc = decode(new DumpDecoder('', 'CRC32'), fakeRotate('mariadb-bin.000007', 4, 99, 'CRC32'));
    assert.deepEqual([crc.type, crc.artificial, crc.file, crc.timestamp, crc.serverId, crc.logPos], [EventType.ROTATE, true, 'mariadb-bin.000007', 0, 99, 0]);
    const plain = fakeRotate('f.000001', 1234, 99, 'NONE');
    assert.equal(plain.length, 19 + 8 + 'f.000001'.length);
    assert.equal(decode(new DumpDecoder('', 'NONE'), plain).file, 'f.000001');
  });

  it('a heartbeat names the file and position; a position past 4 GiB goes in an 8-byte sub-header', () => {
    const hb = decode(new DumpDecoder('f.000002', 'CRC32'), heartbeat('f.000002', 5678, 99, 'CRC32'));
    assert.deepEqual([hb.type, hb.artificial, hb.logPos], [EventType.HEARTBEAT, true, 5678]);
    const far = heartbeat('f.000002', 2 ** 33, 99, 'CRC32');
    assert.equal(far.readUInt32LE(13), 0);
    assert.equal(far.readBigUInt64LE(19), 2n ** 33n);
    assert.ok(eventChecksumMatches(far));
  });

  it('a fake GTID_LIST carries the list and the UNTIL_REACHED flag', () => {
    const ev = fakeGtidList([{ domainId: 0, serverId: 1, seqNo: 5 }, { domainId: 1, serverId: 2, seqNo: 2 ** 40 }], GTID_LIST_UNTIL_REACHED, 500, 99, 'CRC32');
    assert.ok(eventChecksumMatches(ev));
    assert.equal(ev.readUInt32LE(19), 2 | GTID_LIST_UNTIL_REACHED);
    assert.equal(ev.readBigUInt64LE(19 + 4 + 8 + 8 + 8), 2n ** 40n);
    const d = decode(new DumpDecoder('f', 'CRC32'), ev);
    assert.deepEqual([d.type, d.artificial, d.logPos], [EventType.MARIA_GTID_LIST, true, 500]);
  });

  it('re-sends a FORMAT_DESCRIPTION with in-use cleared, log_pos and created zeroed on demand, and a valid CRC32', () => {
    const file = readFixture('mariadb/10.5/rust_mysql_common/mariadb-bin.000001');
    const [fde] = new BinlogParser().feed(file);
    assert.equal(fde!.header.typeCode, EventType.FORMAT_DESCRIPTION);
    const same = formatDescriptionToSend(fde!.bytes, { clearLogPos: false, clearCreated: false }, 'CRC32');
    assert.equal(same.readUInt16LE(17) & 1, 0);
    assert.ok(eventChecksumMatches(same));
    const moved = formatDescriptionToSend(fde!.bytes, { clearLogPos: true, clearCreated: true }, 'CRC32');
    assert.ok(eventChecksumMatches(moved));
    assert.equal(moved.readUInt32LE(13), 0);
    assert.equal(decodeFormatDescription(moved, 4).createTimestamp, 0);
    assert.deepEqual(decodeFormatDescription(moved, 4).postHeaderLengths, decodeFormatDescription(fde!.bytes, 4).postHeaderLengths);
  });
});
