import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BinlogOffsetOverflowError, ProtocolError } from '../../../agent/errors.js';
import { isPurgedBinlogError } from '../../../agent/protocol/binlog-stream.js';
import { DumpDecoder, eventChecksumMatches, isArtificialEvent, type StreamEvent } from '../../../agent/protocol/dump-decoder.js';
import { PacketWriter } from '../../../agent/protocol/packet-writer.js';
import { DOC_DUMP_STREAM, hex, unframe } from './fixtures.js';

const docPackets = unframe(DOC_DUMP_STREAM).map((p) => p.payload);

function decodeAll(decoder: DumpDecoder, payloads: Buffer[]): StreamEvent[] {
  return payloads.map((p) => {
    const item = decoder.decode(p);
    assert.equal(item.kind, 'event');
    return (item as { event: StreamEvent }).event;
  });
}

/** A dump packet: status byte 0x00 and an event built with a filled-in size and CRC32. */
function eventPacket(type: number, logPos: number, flags: number, body: Buffer, opts: { timestamp?: number; crc?: boolean } = {}): Buffer {
  const w = new PacketWriter().u32le(opts.timestamp ?? 1700000000).u8(type).u32le(1).u32le(0).u32le(logPos).u16le(flags).bytes(body);
  return Buffer.concat([hex('00'), w.finishEvent(opts.crc ?? true)]);
}

function rotateBody(file: string): Buffer {
  return new PacketWriter().u64le(4).string(file).toBuffer();
}

describe('binlog dump decoding (MariaDB 10.2.10 capture from the protocol docs)', () => {
  it('tells the file\'s own events from the ones the primary made up', () => {
    const events = decodeAll(new DumpDecoder('', 'CRC32'), docPackets);
    assert.deepEqual(
      events.map((e) => [e.type, e.artificial, e.start, e.end, e.file]),
      [
        [4, true, null, null, 'mysql-bin.000034'], // fake ROTATE: flag 0x20, log_pos 0
        [15, false, 4, 256, 'mysql-bin.000034'], // FORMAT_DESCRIPTION at the file start (GTID mode)
        [163, false, 256, 315, 'mysql-bin.000034'], // GTID_LIST
        [161, false, 315, 358, 'mysql-bin.000034'], // BINLOG_CHECKPOINT
        [163, true, null, null, 'mysql-bin.000034'], // fake GTID_LIST: flag 0x20, log_pos 1588 (resume point)
        [162, false, 1588, 1630, 'mysql-bin.000034'], // GTID
        [2, false, 1630, 1705, 'mysql-bin.000034'], // QUERY "flush tables"
      ],
    );
  });

  it('yields each event\'s exact bytes (status byte stripped) as a view of the packet, without a copy, and its header fields', () => {
    const payload = Buffer.from(docPackets[6] as Buffer);
    const ev = decodeAll(new DumpDecoder('mysql-bin.000034', 'CRC32'), [payload])[0] as StreamEvent;
    assert.deepEqual(ev.bytes, payload.subarray(1));
    assert.equal(ev.bytes.buffer, payload.buffer, 'a view of the packet');
    assert.equal(ev.bytes.byteOffset, payload.byteOffset + 1);
    assert.deepEqual(
      { timestamp: ev.timestamp, type: ev.type, serverId: ev.serverId, eventSize: ev.eventSize, logPos: ev.logPos, flags: ev.flags },
      { timestamp: 0x5a38fd94, type: 2, serverId: 10201, eventSize: 75, logPos: 1705, flags: 0 },
    );
  });

  it('reports a CRC32 mismatch as a ProtocolError naming the file, event and offset', () => {
    const corrupt = Buffer.from(docPackets[6] as Buffer);
    corrupt[40] = (corrupt[40] as number) ^ 0x01;
    const decoder = new DumpDecoder('', 'CRC32');
    decodeAll(decoder, docPackets.slice(0, 6));
    assert.throws(
      () => decoder.decode(corrupt),
      (err: unknown) =>
        err instanceof ProtocolError && err.message === 'event CRC32 mismatch (mysql-bin.000034: QUERY event (log_pos 1705) at byte 1630)',
    );
  });

  it('checks the CRC32 of events the primary made up too', () => {
    const corrupt = Buffer.from(docPackets[0] as Buffer);
    corrupt[30] = (corrupt[30] as number) ^ 0xff;
    assert.throws(() => new DumpDecoder('', 'CRC32').decode(corrupt), /event CRC32 mismatch/);
  });

  it('verifies a FORMAT_DESCRIPTION\'s CRC32 as if LOG_EVENT_BINLOG_IN_USE_F were clear, as the server writes it', () => {
    const fde = Buffer.from((docPackets[1] as Buffer).subarray(1));
    assert.ok(eventChecksumMatches(fde));
    fde[17] = (fde[17] as number) | 0x01;
    assert.ok(eventChecksumMatches(fde));
    fde[18] = (fde[18] as number) | 0x01; // any other flag bit is covered
    assert.ok(!eventChecksumMatches(fde));
  });

  it('classifies artificial events by the ARTIFICIAL flag, heartbeat types and log_pos 0', () => {
    assert.equal(isArtificialEvent(4, 0x20, 0), true);
    assert.equal(isArtificialEvent(163, 0x20, 1588), true);
    assert.equal(isArtificialEvent(27, 0, 1705), true);
    assert.equal(isArtificialEvent(41, 0, 1705), true);
    assert.equal(isArtificialEvent(15, 0, 0), true); // FDE re-sent for a mid-file start
    assert.equal(isArtificialEvent(15, 0, 256), false);
    assert.equal(isArtificialEvent(4, 0, 2099), false); // the real ROTATE ending a file
  });

  it('keeps a real ROTATE in the old file, then follows it to the new one', () => {
    const decoder = new DumpDecoder('', 'CRC32');
    decodeAll(decoder, docPackets);
    const realRotate = eventPacket(4, 1705 + 19 + 8 + 16 + 4, 0, rotateBody('mysql-bin.000035'));
    const fakeRotate = eventPacket(4, 0, 0x20, rotateBody('mysql-bin.000035'), { timestamp: 0 });
    const [real, fake] = decodeAll(decoder, [realRotate, fakeRotate]) as [StreamEvent, StreamEvent];
    assert.deepEqual([real.file, real.start, real.artificial], ['mysql-bin.000034', 1705, false]);
    assert.deepEqual([fake.file, fake.start, fake.artificial], ['mysql-bin.000035', null, true]);
    assert.equal(decoder.file, 'mysql-bin.000035');
  });

  it('marks a heartbeat artificial and keeps the current file', () => {
    const decoder = new DumpDecoder('mysql-bin.000034', 'CRC32');
    const hb = decodeAll(decoder, [eventPacket(27, 1705, 0, Buffer.from('mysql-bin.000034'), { timestamp: 0 })])[0] as StreamEvent;
    assert.deepEqual([hb.artificial, hb.start, hb.file, hb.logPos], [true, null, 'mysql-bin.000034', 1705]);
  });

  it('reads ROTATE names without a checksum when the stream has none', () => {
    const decoder = new DumpDecoder('', 'NONE');
    const ev = decodeAll(decoder, [eventPacket(4, 0, 0x20, rotateBody('b.000001'), { crc: false, timestamp: 0 })])[0] as StreamEvent;
    assert.equal(ev.file, 'b.000001');
  });

  it('returns EOF and ERR packets as items, and rejects malformed packets', () => {
    const decoder = new DumpDecoder('f', 'CRC32');
    assert.deepEqual(decoder.decode(hex('fe00000200')), { kind: 'eof' });
    assert.deepEqual(decoder.decode(Buffer.concat([hex('ffd404 2348593030 30'), Buffer.from('Could not find first log file name in binary log index file')])), {
      kind: 'error',
      error: { errno: 1236, sqlState: 'HY000', message: 'Could not find first log file name in binary log index file' },
    });
    assert.throws(() => decoder.decode(hex('01 02')), /unexpected status byte 0x1/);
    const short = Buffer.from(docPackets[6] as Buffer).subarray(0, 60);
    assert.throws(() => decoder.decode(short), /event_size 75 but the packet holds 59 bytes/);
    assert.throws(() => decoder.decode(hex('00 0102')), ProtocolError);
  });
});

/**
 * A binlog file past 4 GiB, without writing 4 GiB: the events' log_pos values are what the server
 * writes near and across 2^32 (log_pos is 32 bits and wraps, as mysqlbinlog shows).
 */
describe('a binlog file growing past 4 GiB', () => {
  const GiB4 = 2 ** 32;
  const QUERY = 2;
  /** A 50-byte event (19 header + 27 body + 4 CRC32) whose header says it ends at `trueEnd` mod 2^32. */
  const event = (trueEnd: number) => eventPacket(QUERY, trueEnd % GiB4, 0, Buffer.alloc(27, 7));

  it('places events up to the last byte a 32-bit log_pos can name', () => {
    const decoder = new DumpDecoder('big.000001', 'CRC32');
    const events = decodeAll(decoder, [event(GiB4 - 101), event(GiB4 - 51), event(GiB4 - 1)]);
    assert.deepEqual(events.map((e) => [e.start, e.end]), [[GiB4 - 151, GiB4 - 101], [GiB4 - 101, GiB4 - 51], [GiB4 - 51, GiB4 - 1]]);
  });

  const refused: [string, number[]][] = [
    ['an event that crosses 2^32 (its log_pos wrapped below its size)', [GiB4 - 30, GiB4 + 20]],
    ['an event that ends exactly at 2^32 (its log_pos wrapped to 0)', [GiB4 - 50, GiB4]],
    ['an event that starts exactly at 2^32', [GiB4 - 50 - 1, GiB4 - 1, GiB4 + 49]],
    ['the second event past 2^32 (log_pos wrapped past its size)', [GiB4 - 60, GiB4 - 10, GiB4 + 40, GiB4 + 90]],
    ['an event after a gap, whose wrapped log_pos went back', [GiB4 - 1000, GiB4 + 5000]],
  ];
  for (const [what, ends] of refused) {
    it(`refuses ${what} with an error naming the file and the last good position, never a wrong offset`, () => {
      const decoder = new DumpDecoder('big.000001', 'CRC32');
      const placed: StreamEvent[] = [];
      let error: unknown;
      for (const end of ends) {
        try {
          const item = decoder.decode(event(end));
          if (item.kind === 'event') placed.push(item.event);
        } catch (err) {
          error = err;
          break;
        }
      }
      assert.ok(error instanceof BinlogOffsetOverflowError, `expected BinlogOffsetOverflowError, got ${String(error)}`);
      assert.equal(error.file, 'big.000001');
      const lastGood = placed.at(-1)?.end ?? undefined;
      assert.equal(error.position, lastGood);
      assert.ok(lastGood !== undefined && lastGood < GiB4);
      assert.match(error.message, /big\.000001 grows past 4 GiB/);
      assert.match(error.hint ?? '', /32-bit/);
      assert.equal(error.retryable, false);
      for (const e of placed) assert.ok(e.end !== null && e.end < GiB4 && e.end === ends[placed.indexOf(e)], 'every placed event is at its true offset');
    });
  }

  it('refuses a first event whose log_pos is smaller than the event itself', () => {
    const decoder = new DumpDecoder('big.000001', 'CRC32');
    assert.throws(() => decoder.decode(event(GiB4 + 20)), BinlogOffsetOverflowError);
  });

  it('counts offsets afresh in the file after a ROTATE', () => {
    const decoder = new DumpDecoder('big.000001', 'CRC32');
    const rotate = eventPacket(4, GiB4 - 1, 0, new PacketWriter().u64le(4).string('big.000002').toBuffer(), { crc: true });
    const fake = eventPacket(4, 0, 0x20, rotateBody('big.000002'), { timestamp: 0 });
    decodeAll(decoder, [event(GiB4 - 200), rotate, fake]);
    const [first] = decodeAll(decoder, [event(300)]);
    assert.deepEqual([first?.file, first?.start, first?.end], ['big.000002', 250, 300]);
  });
});

describe('purged-binlog errors', () => {
  const cases: [number, string, boolean][] = [
    [1236, 'Could not find first log file name in binary log index file', true],
    [1236, 'Could not find GTID state requested by slave in any binlog files. Probably the slave state is too old and required binlog files have been purged.', true],
    [1236, 'Cannot replicate because the source purged required binary logs. Replicate the missing transactions from elsewhere', true],
    [1236, 'Client requested master to start replication from impossible position', false],
    [1236, 'Error: connecting slave requested to start from GTID 0-1-99, which is not in the master\'s binlog', false],
    [1064, 'Could not find first log file name in binary log index file', false],
  ];
  for (const [errno, message, purged] of cases) {
    it(`${purged ? 'recognises' : 'does not take'} ${errno} '${message.slice(0, 50)}…' ${purged ? 'as' : 'for'} a purged binlog`, () => {
      assert.equal(isPurgedBinlogError({ errno, sqlState: 'HY000', message }), purged);
    });
  }
});

describe('GTID dumps from a non-empty position', () => {
  it('flag the first FORMAT_DESCRIPTION artificial (the primary may zero its created field) and trust later ones', () => {
    const decoder = new DumpDecoder('', 'CRC32', { firstFormatDescriptionRewritten: true });
    const fde = docPackets[1] as Buffer;
    // a later file begins, as every file does, with a fake ROTATE and its FORMAT_DESCRIPTION
    const events = decodeAll(decoder, [docPackets[0] as Buffer, fde, docPackets[2] as Buffer, docPackets[0] as Buffer, fde]);
    assert.deepEqual(
      events.map((e) => [e.type, e.artificial, e.start]),
      [
        [4, true, null],
        [15, true, null],
        [163, false, 256],
        [4, true, null],
        [15, false, 4],
      ],
    );
  });
});
