import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { ProtocolError } from '../../../agent/errors.js';
import { buildSemiSyncAck } from '../../../agent/protocol/commands.js';
import { DumpDecoder, type StreamEvent } from '../../../agent/protocol/dump-decoder.js';
import { PacketStream } from '../../../agent/protocol/packet-stream.js';
import { DOC_DUMP_STREAM, frame, hex, scriptedServer, unframe } from './fixtures.js';

const docPackets = unframe(DOC_DUMP_STREAM).map((p) => p.payload);
/** The QUERY "flush tables" at mysql-bin.000034 [1630, 1705) from the protocol docs' capture. */
const queryPacket = docPackets[6]!;

/** The dump packet as a semi-sync primary sends it: status byte, 0xEF, flags, then the event. */
function withSemiSyncHeader(payload: Buffer, flags: number): Buffer {
  return Buffer.concat([payload.subarray(0, 1), Buffer.from([0xef, flags]), payload.subarray(1)]);
}

function decodeEvent(decoder: DumpDecoder, payload: Buffer): StreamEvent {
  const item = decoder.decode(payload);
  assert.equal(item.kind, 'event');
  return (item as { event: StreamEvent }).event;
}

describe('semi-sync on the dump', () => {
  it('strips the 0xEF header and says when the primary asks for a reply, with the event\'s file and end', () => {
    const plain = decodeEvent(new DumpDecoder('mysql-bin.000034', 'CRC32'), queryPacket);
    const asked = decodeEvent(new DumpDecoder('mysql-bin.000034', 'CRC32', { semiSync: true }), withSemiSyncHeader(queryPacket, 0x01));
    assert.deepEqual(asked.bytes, queryPacket.subarray(1), 'the event bytes, without the two header bytes');
    assert.deepEqual([asked.file, asked.start, asked.end, asked.ackRequested], ['mysql-bin.000034', 1630, 1705, true]);
    assert.deepEqual({ ...asked, ackRequested: undefined }, { ...plain, ackRequested: undefined });
    assert.equal(plain.ackRequested, undefined);

    const notAsked = decodeEvent(new DumpDecoder('mysql-bin.000034', 'CRC32', { semiSync: true }), withSemiSyncHeader(queryPacket, 0x00));
    assert.equal(notAsked.ackRequested, undefined);
    assert.deepEqual(notAsked.bytes, queryPacket.subarray(1));
  });

  it('refuses an event packet without the header on a semi-sync dump; ERR and EOF packets have none', () => {
    assert.throws(() => new DumpDecoder('mysql-bin.000034', 'CRC32', { semiSync: true }).decode(queryPacket), ProtocolError);
    const d = new DumpDecoder('mysql-bin.000034', 'CRC32', { semiSync: true });
    assert.equal(d.decode(hex('fe 00 00 02 00')).kind, 'eof');
  });

  it('builds the reply: 0xEF, the 8-byte little-endian end position, the file name without a terminator', () => {
    assert.equal(buildSemiSyncAck('mysql-bin.000034', 1705).toString('hex'), `ef a906000000000000 ${Buffer.from('mysql-bin.000034').toString('hex')}`.replace(/ /g, ''));
    assert.equal(buildSemiSyncAck('b.000002', 2 ** 32 + 5).subarray(1, 9).toString('hex'), '0500000001000000');
    assert.throws(() => buildSemiSyncAck('', 100), ProtocolError);
    assert.throws(() => buildSemiSyncAck('b.000001', 0), ProtocolError);
  });

  it('sends the reply as a packet of sequence id 0, and on a semi-sync dump accepts the primary numbering from 1 again', async (t) => {
    let reply: { seq: number; payload: Buffer } | undefined;
    const server = await scriptedServer(async ({ socket, next }) => {
      socket.write(frame(0, hex('00 01')));
      socket.write(frame(1, hex('00 02')));
      reply = await next();
      socket.write(frame(1, hex('00 03'))); // MariaDB read the reply (0) and continues at 1
    });
    t.after(() => server.close());
    const socket = connect({ port: server.port, host: '127.0.0.1' });
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    const stream = new PacketStream(socket, { target: `127.0.0.1:${server.port}` });
    t.after(() => stream.destroy());
    stream.allowSequenceRestart();
    assert.equal((await stream.read('p', 5000)).toString('hex'), '0001');
    assert.equal((await stream.read('p', 5000)).toString('hex'), '0002');
    stream.writeAside(buildSemiSyncAck('f.000001', 99));
    assert.equal((await stream.read('p', 5000)).toString('hex'), '0003');
    assert.equal(reply?.seq, 0);
    assert.deepEqual(reply?.payload, buildSemiSyncAck('f.000001', 99));
  });

  it('still checks the sequence on any other connection', async (t) => {
    const server = await scriptedServer(async ({ socket }) => {
      socket.write(frame(0, hex('00 01')));
      socket.write(frame(1, hex('00 02')));
      socket.write(frame(1, hex('00 03')));
    });
    t.after(() => server.close());
    const socket = connect({ port: server.port, host: '127.0.0.1' });
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    const stream = new PacketStream(socket, { target: `127.0.0.1:${server.port}` });
    t.after(() => stream.destroy());
    await stream.read('p', 5000);
    await stream.read('p', 5000);
    await assert.rejects(stream.read('p', 5000), ProtocolError);
  });
});
