/**
 * The replication client against a scripted primary that replays the MariaDB docs capture:
 * what the client sends, and how the stream ends (silence, a dropped connection, an ERR).
 */
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { ConnectionError, ServerError } from '../../../agent/errors.js';
import { buildBinlogDump } from '../../../agent/protocol/commands.js';
import type { StreamEvent } from '../../../agent/protocol/dump-decoder.js';
import { openBinlogStream, type DumpStart } from '../../../agent/protocol/replication-client.js';
import { DOC_CHECKSUM_RESULTSET, DOC_DUMP_STREAM, DOC_HANDSHAKE_PACKET, frame, hex, scriptedServer } from './fixtures.js';

const OK = hex('00000002000000');

type Ending = 'silence' | 'close' | 'error' | 'eof';

/** Answers the connection phase and setup commands, then replays the capture and ends as told. */
async function scriptedPrimary(ending: Ending) {
  const commands: Buffer[] = [];
  const server = await scriptedServer(async ({ socket, next }: { socket: Socket; next: () => Promise<{ seq: number; payload: Buffer }> }) => {
    socket.write(DOC_HANDSHAKE_PACKET);
    await next();
    socket.write(frame(2, OK));
    for (;;) {
      const { payload } = await next();
      commands.push(payload);
      const command = payload[0];
      if (command === 0x03 && payload.toString('utf8', 1) === 'SELECT @master_binlog_checksum') socket.write(DOC_CHECKSUM_RESULTSET);
      else if (command === 0x03 || command === 0x15) socket.write(frame(1, OK));
      else if (command === 0x12) break;
      else throw new Error(`unexpected command 0x${command?.toString(16)}`);
    }
    if (ending === 'close') {
      socket.end(DOC_DUMP_STREAM);
      return;
    }
    socket.write(DOC_DUMP_STREAM);
    if (ending === 'error') socket.write(frame(8, Buffer.concat([hex('ffd404'), Buffer.from('#HY000binlog truncated in the middle of event')])));
    if (ending === 'eof') socket.write(frame(8, hex('fe00000200')));
  });
  return { server, commands };
}

async function open(port: number, start: DumpStart, extra: { idleTimeoutMs?: number; heartbeatMs?: number } = {}) {
  return openBinlogStream({ host: '127.0.0.1', port, user: 'repl', password: 'pw', serverId: 10101, start, ...extra });
}

async function drain(stream: AsyncIterable<StreamEvent>): Promise<StreamEvent[]> {
  const out: StreamEvent[] = [];
  for await (const ev of stream) out.push(ev);
  return out;
}

describe('replication client against a scripted primary', () => {
  it('runs the MariaDB preamble, registers, and dumps by GTID with an empty file name at position 4', async (t) => {
    const { server, commands } = await scriptedPrimary('eof');
    t.after(() => server.close());
    const events = await drain(await open(server.port, { gtid: '0-10201-9868' }, { heartbeatMs: 30_000 }));
    assert.equal(events.length, 7);
    const queries = commands.filter((c) => c[0] === 0x03).map((c) => c.toString('utf8', 1));
    assert.deepEqual(queries, [
      'SET @master_binlog_checksum = @@global.binlog_checksum',
      'SELECT @master_binlog_checksum',
      'SET @mariadb_slave_capability = 4',
      'SET @master_heartbeat_period = 30000000000',
      "SET @slave_connect_state = '0-10201-9868'",
      'SET @slave_gtid_strict_mode = 1',
      'SET @slave_gtid_ignore_duplicates = 0',
    ]);
    assert.deepEqual(commands.filter((c) => c[0] === 0x15), [hex('15 75270000 08 737175697272656c 00 00 0000 00000000 00000000')]);
    assert.deepEqual(commands.at(-1), buildBinlogDump({ file: '', position: 4, flags: 0x02, serverId: 10101 }));
  });

  it('dumps by file and position with those in COM_BINLOG_DUMP and no GTID variables', async (t) => {
    const { server, commands } = await scriptedPrimary('eof');
    t.after(() => server.close());
    await drain(await open(server.port, { file: 'mysql-bin.000034', position: 1588 }, { heartbeatMs: 0 }));
    assert.ok(!commands.some((c) => c.toString('utf8', 1).includes('slave_connect_state')));
    assert.ok(!commands.some((c) => c.toString('utf8', 1).includes('heartbeat')));
    assert.deepEqual(commands.at(-1), buildBinlogDump({ file: 'mysql-bin.000034', position: 1588, flags: 0x02, serverId: 10101 }));
  });

  it('treats a dump silent for longer than the idle timeout as a dropped connection, naming the position', async (t) => {
    const { server } = await scriptedPrimary('silence');
    t.after(() => server.close());
    const stream = await open(server.port, { gtid: '' }, { idleTimeoutMs: 200 });
    const seen: StreamEvent[] = [];
    await assert.rejects(
      (async () => {
        for await (const ev of stream) seen.push(ev);
      })(),
      (err: unknown) => {
        assert.ok(err instanceof ConnectionError);
        assert.equal(err.retryable, true);
        assert.match(err.message, /binlog dump interrupted at mysql-bin\.000034:1705/);
        assert.match(String((err.cause as Error).message), /no binlog event within 200 ms/);
        return true;
      },
    );
    assert.equal(seen.length, 7);
    assert.equal(stream.file, 'mysql-bin.000034');
    assert.equal(stream.position, 1705);
  });

  it('reports the server closing mid-dump as a retryable ConnectionError after the events it sent', async (t) => {
    const { server } = await scriptedPrimary('close');
    t.after(() => server.close());
    const stream = await open(server.port, { gtid: '' });
    const seen: StreamEvent[] = [];
    await assert.rejects(
      (async () => {
        for await (const ev of stream) seen.push(ev);
      })(),
      (err: unknown) => err instanceof ConnectionError && err.retryable && /interrupted at mysql-bin\.000034:1705/.test(err.message),
    );
    assert.equal(seen.length, 7);
  });

  it('turns an ERR during the dump into a ServerError with the code, message and position', async (t) => {
    const { server } = await scriptedPrimary('error');
    t.after(() => server.close());
    await assert.rejects(drain(await open(server.port, { gtid: '' })), (err: unknown) => {
      assert.ok(err instanceof ServerError);
      assert.equal(err.errno, 1236);
      assert.equal(err.message, `binlog dump at mysql-bin.000034:1705 on 127.0.0.1:${server.port}: server error 1236 (HY000): binlog truncated in the middle of event`);
      return true;
    });
  });

  it('rejects a malformed GTID position before contacting the primary with it', async (t) => {
    const { server, commands } = await scriptedPrimary('eof');
    t.after(() => server.close());
    await assert.rejects(open(server.port, { gtid: "0-1-1'; DROP TABLE x; --" }), /invalid MariaDB GTID/);
    assert.ok(!commands.some((c) => c[0] === 0x12));
  });
});
