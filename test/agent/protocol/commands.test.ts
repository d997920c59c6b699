import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { ProtocolError, ServerError } from '../../../agent/errors.js';
import {
  BinlogDumpFlag,
  buildBinlogDump,
  buildBinlogDumpGtid,
  buildQuery,
  buildRegisterSlave,
  encodeMysqlGtidSet,
  parseTextRow,
  runQuery,
} from '../../../agent/protocol/commands.js';
import { parseMysqlGtidSet } from '../../../agent/protocol/gtid.js';
import { framePayload, PacketStream } from '../../../agent/protocol/packet-stream.js';
import { DOC_CHECKSUM_RESULTSET, frame, hex, scriptedServer } from './fixtures.js';

describe('replication commands on the wire', () => {
  it('builds COM_REGISTER_SLAVE as in the MariaDB docs example', () => {
    // mariadb-docs com_register_slave.md: server-id=10101, report-host=slave_n_1, report-port=23241
    const payload = buildRegisterSlave({ serverId: 10101, host: 'slave_n_1', port: 23241 });
    assert.deepEqual(
      framePayload(payload, 0).bytes,
      hex('1b000000 15 75270000 09 736c6176655f6e5f31 00 00 c95a 00000000 00000000'),
    );
  });

  it('refuses a COM_REGISTER_SLAVE field longer than its one-byte length', () => {
    assert.throws(() => buildRegisterSlave({ serverId: 1, host: 'h'.repeat(256) }), ProtocolError);
  });

  it('builds COM_BINLOG_DUMP as in the MariaDB docs example', () => {
    // mariadb-docs com_binlog_dump.md: position 1588, flags SEND_ANNOTATE_ROWS_EVENT, server_id 10101
    const payload = buildBinlogDump({
      file: 'mysql-bin.000034',
      position: 1588,
      flags: BinlogDumpFlag.SEND_ANNOTATE_ROWS_EVENT,
      serverId: 10101,
    });
    assert.deepEqual(framePayload(payload, 0).bytes, hex('1b000000 12 34060000 0200 75270000 6d7973716c2d62696e2e303030303334'));
  });

  it('refuses a position that does not fit COM_BINLOG_DUMP', () => {
    assert.throws(() => buildBinlogDump({ file: 'f', position: 2 ** 32, flags: 0, serverId: 1 }), ProtocolError);
  });

  it('encodes an empty MySQL GTID set as a zero sid count', () => {
    assert.deepEqual(encodeMysqlGtidSet([]), hex('0000000000000000'));
  });

  it('encodes a MySQL GTID set: sid count, uuid, interval count, [start, end) pairs, all u64', () => {
    const set = parseMysqlGtidSet('3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7,61d5b289-bccc-11f0-b921-cabbb4ee51f6:1-3');
    assert.deepEqual(
      encodeMysqlGtidSet(set),
      hex(
        '0200000000000000' +
          '3e11fa4771ca11e19e33c80aa9429562' + '0200000000000000' +
          '0100000000000000' + '0600000000000000' + // 1-5 -> [1, 6)
          '0700000000000000' + '0800000000000000' + // 7 -> [7, 8)
          '61d5b289bccc11f0b921cabbb4ee51f6' + '0100000000000000' +
          '0100000000000000' + '0400000000000000', // 1-3 -> [1, 4)
      ),
    );
  });

  it('builds COM_BINLOG_DUMP_GTID with THROUGH_GTID and the encoded set (MySQL rpl_source.cc layout)', () => {
    const payload = buildBinlogDumpGtid({
      flags: BinlogDumpFlag.NON_BLOCK,
      serverId: 10101,
      file: '',
      position: 4,
      gtidSet: parseMysqlGtidSet('3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7'),
    });
    assert.deepEqual(
      payload,
      hex(
        '1e' + // COM_BINLOG_DUMP_GTID
          '0500' + // flags: NON_BLOCK | THROUGH_GTID
          '75270000' + // server_id 10101
          '00000000' + // binlog name length, then no name
          '0400000000000000' + // position u64
          '40000000' + // data size 64
          '0100000000000000' + '3e11fa4771ca11e19e33c80aa9429562' + '0200000000000000' +
          '0100000000000000' + '0600000000000000' + '0700000000000000' + '0800000000000000',
      ),
    );
  });

  it('builds COM_QUERY as the command byte and the statement text', () => {
    assert.deepEqual(buildQuery('SELECT 1'), hex('03 53454c4543542031'));
  });

  it('reads NULL and empty values in a text row', () => {
    assert.deepEqual(parseTextRow(hex('fb 00 03616263'), 3), [null, '', 'abc']);
    assert.throws(() => parseTextRow(hex('05616263'), 1), ProtocolError);
  });
});

async function streamTo(port: number): Promise<PacketStream> {
  const socket = connect({ port, host: '127.0.0.1' });
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  return new PacketStream(socket, { target: `127.0.0.1:${port}` });
}

describe('COM_QUERY against a scripted server', () => {
  it('reads a text result set (MariaDB docs capture of SELECT @master_binlog_checksum)', async (t) => {
    let sent: Buffer | undefined;
    const server = await scriptedServer(async ({ socket, next }) => {
      sent = (await next()).payload;
      socket.write(DOC_CHECKSUM_RESULTSET);
    });
    t.after(() => server.close());
    const stream = await streamTo(server.port);
    const result = await runQuery(stream, 'SELECT @master_binlog_checksum', 'db:3306', 2000);
    assert.deepEqual(sent, buildQuery('SELECT @master_binlog_checksum'));
    assert.deepEqual(result, { columns: ['@master_binlog_checksum'], rows: [['CRC32']], affectedRows: 0 });
    stream.destroy();
  });

  it('returns the affected rows of an OK', async (t) => {
    const server = await scriptedServer(async ({ socket, next }) => {
      await next();
      socket.write(frame(1, hex('00 03 00 0200 0000')));
    });
    t.after(() => server.close());
    const stream = await streamTo(server.port);
    assert.deepEqual(await runQuery(stream, 'SET @a = 1', 'db:3306', 2000), { columns: [], rows: [], affectedRows: 3 });
    stream.destroy();
  });

  it('turns an ERR into a ServerError naming the statement and the server', async (t) => {
    const server = await scriptedServer(async ({ socket, next }) => {
      await next();
      socket.write(frame(1, Buffer.concat([hex('ff2804'), Buffer.from('#42000You have an error in your SQL syntax')])));
    });
    t.after(() => server.close());
    const stream = await streamTo(server.port);
    await assert.rejects(runQuery(stream, 'SELEC 1', 'db:3306', 2000), (err: unknown) => {
      assert.ok(err instanceof ServerError);
      assert.equal(err.errno, 1064);
      assert.equal(err.sqlState, '42000');
      assert.equal(err.message, "query 'SELEC 1' on db:3306: server error 1064 (42000): You have an error in your SQL syntax");
      return true;
    });
    stream.destroy();
  });
});
