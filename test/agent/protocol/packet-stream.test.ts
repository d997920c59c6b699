import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { ConnectionError, ProtocolError } from '../../../agent/errors.js';
import { framePayload, MAX_PACKET_PAYLOAD, PacketFramer, PacketStream, type Packet } from '../../../agent/protocol/packet-stream.js';
import { frame, hex, scriptedServer } from './fixtures.js';

function payloads(packets: Packet[]): string[] {
  return packets.map((p) => `${p.firstSequenceId}-${p.lastSequenceId}:${p.payload.toString('hex')}`);
}

describe('packet framing', () => {
  // Three packets: an empty payload, a one-byte OK, and a longer one; sequence ids 0, 1, 2.
  const wire = Buffer.concat([frame(0, Buffer.alloc(0)), frame(1, hex('00')), frame(2, Buffer.from('hello, binlog'))]);
  const expected = payloads(new PacketFramer().push(wire));

  it('frames whole packets from one chunk', () => {
    assert.deepEqual(expected, ['0-0:', '1-1:00', `2-2:${Buffer.from('hello, binlog').toString('hex')}`]);
  });

  it('gives the same packets when the bytes are split at every byte boundary', () => {
    for (let cut = 0; cut <= wire.length; cut++) {
      const f = new PacketFramer();
      const got = [...f.push(wire.subarray(0, cut)), ...f.push(wire.subarray(cut))];
      assert.deepEqual(payloads(got), expected, `split at ${cut}`);
      assert.equal(f.pendingBytes, 0);
    }
  });

  it('gives the same packets when the bytes arrive one at a time', () => {
    const f = new PacketFramer();
    const got: Packet[] = [];
    for (let i = 0; i < wire.length; i++) got.push(...f.push(wire.subarray(i, i + 1)));
    assert.deepEqual(payloads(got), expected);
  });

  it('keeps a partial frame between calls and reports it as pending', () => {
    const f = new PacketFramer();
    assert.deepEqual(payloads(f.push(wire.subarray(0, 6))), ['0-0:']);
    assert.equal(f.pendingBytes, 2);
    assert.deepEqual(payloads(f.push(wire.subarray(6))), expected.slice(1));
  });

  it('writes a payload of exactly 2^24-1 bytes as a full packet and an empty one', () => {
    const payload = Buffer.alloc(MAX_PACKET_PAYLOAD, 7);
    const { bytes, nextSequenceId } = framePayload(payload, 5);
    assert.equal(bytes.length, MAX_PACKET_PAYLOAD + 8);
    assert.deepEqual(bytes.subarray(0, 4), hex('ffffff05'));
    assert.deepEqual(bytes.subarray(MAX_PACKET_PAYLOAD + 4), hex('00000006'));
    assert.equal(nextSequenceId, 7);
  });

  it('reassembles a 16 MiB continuation split around every header byte', () => {
    const payload = Buffer.alloc(MAX_PACKET_PAYLOAD + 10);
    for (let i = 0; i < payload.length; i += 4096) payload[i] = i & 0xff;
    payload[payload.length - 1] = 0xab;
    const { bytes } = framePayload(payload, 255);
    const second = MAX_PACKET_PAYLOAD + 4;
    const cuts = [0, 1, 2, 3, 4, 5, 1000, second - 1, second, second + 1, second + 2, second + 3, second + 4, second + 5, bytes.length - 1, bytes.length];
    for (const cut of cuts) {
      const f = new PacketFramer();
      const got = [...f.push(bytes.subarray(0, cut)), ...f.push(bytes.subarray(cut))];
      assert.equal(got.length, 1, `split at ${cut}`);
      const p = got[0] as Packet;
      assert.equal(p.firstSequenceId, 255);
      assert.equal(p.lastSequenceId, 0, 'sequence ids wrap at 256');
      assert.ok(p.payload.equals(payload), `split at ${cut}`);
    }
  });

  it('rejects a continuation packet with the wrong sequence id', () => {
    const { bytes } = framePayload(Buffer.alloc(MAX_PACKET_PAYLOAD + 1), 3);
    bytes[MAX_PACKET_PAYLOAD + 4 + 3] = 9;
    assert.throws(() => new PacketFramer().push(bytes), ProtocolError);
  });

  it('rejects a packet larger than the memory bound', () => {
    assert.throws(() => new PacketFramer(10).push(frame(0, Buffer.alloc(11))), /exceeds 10 bytes/);
  });
});

async function clientFor(port: number, highWaterMarkBytes?: number): Promise<PacketStream> {
  const socket = connect({ port, host: '127.0.0.1' });
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  return new PacketStream(socket, { target: `127.0.0.1:${port}`, highWaterMarkBytes });
}

describe('packet stream over a socket', () => {
  it('pauses the socket when the reader falls behind, bounds memory, and resumes as it drains', async (t) => {
    const count = 128;
    const size = 32 * 1024;
    const server = await scriptedServer(async ({ socket }) => {
      for (let i = 0; i < count; i++) socket.write(frame(i & 0xff, Buffer.alloc(size, i & 0xff)));
    });
    t.after(() => server.close());
    const hwm = 256 * 1024;
    const stream = await clientFor(server.port, hwm);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(stream.isPaused, true);
    // Paused after the mark was crossed: at most one more socket chunk (64 KiB) beyond it.
    assert.ok(stream.bufferedBytes < hwm + 128 * 1024, `buffered ${stream.bufferedBytes}`);
    for (let i = 0; i < count; i++) {
      const p = await stream.read('test packet', 5000);
      assert.equal(p.length, size);
      assert.equal(p[0], i & 0xff);
    }
    assert.equal(stream.isPaused, false);
    stream.destroy();
  });

  it('delivers packets received before the server closed, then a retryable ConnectionError', async (t) => {
    const server = await scriptedServer(async ({ socket }) => {
      socket.end(Buffer.concat([frame(0, hex('01')), frame(1, hex('02'))]));
    });
    t.after(() => server.close());
    const stream = await clientFor(server.port);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(await stream.read('first'), hex('01'));
    assert.deepEqual(await stream.read('second'), hex('02'));
    await assert.rejects(stream.read('third'), (err: unknown) => err instanceof ConnectionError && err.retryable);
  });

  it('fails a read that waits longer than its timeout', async (t) => {
    const server = await scriptedServer(async () => undefined);
    t.after(() => server.close());
    const stream = await clientFor(server.port);
    await assert.rejects(stream.read('handshake', 50), /no handshake within 50 ms/);
  });

  it('checks sequence ids and restarts them for each command', async (t) => {
    const server = await scriptedServer(async ({ socket, next }) => {
      const a = await next();
      socket.write(frame(a.seq + 1, hex('aa')));
      const b = await next();
      socket.write(frame(b.seq + 5, hex('bb')));
    });
    t.after(() => server.close());
    const stream = await clientFor(server.port);
    stream.resetSequence();
    stream.write(hex('03'));
    assert.deepEqual(await stream.read('reply'), hex('aa'));
    stream.resetSequence();
    stream.write(hex('03'));
    await assert.rejects(stream.read('reply'), (err: unknown) => err instanceof ProtocolError && /sequence id 5, expected 1/.test(err.message));
    stream.destroy();
  });
});
