/**
 * The replication client against a private MariaDB server: every byte of the file that the
 * stream says is the file's must be the file's, at the offset the stream says.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AuthenticationError, BinlogPurgedError } from '../../../agent/errors.js';
import { EventType } from '../../../agent/binlog/event-types.js';
import { MariaDbServer } from '../../../agent/server/mariadb.js';
import type { StreamEvent } from '../../../agent/protocol/dump-decoder.js';
import { openBinlogStream, ReplicationClient, type DumpStart } from '../../../agent/protocol/replication-client.js';

const BINLOG_MAGIC = Buffer.from([0xfe, 0x62, 0x69, 0x6e]);
const FIRST = 'mariadb-bin.000001';
const SECOND = 'mariadb-bin.000002';

/** Places each of the file's own events at its offset after the magic; checks they are contiguous. */
function rebuild(events: StreamEvent[]): Map<string, Buffer> {
  const parts = new Map<string, Buffer[]>();
  const ends = new Map<string, number>();
  for (const ev of events) {
    if (ev.artificial || ev.start === null || ev.end === null) continue;
    const expected = ends.get(ev.file) ?? ev.start;
    assert.equal(ev.start, expected, `${ev.file}: event at ${ev.start} does not follow the one ending at ${expected}`);
    ends.set(ev.file, ev.end);
    const list = parts.get(ev.file) ?? [];
    list.push(ev.bytes);
    parts.set(ev.file, list);
  }
  const files = new Map<string, Buffer>();
  for (const [file, list] of parts) files.set(file, Buffer.concat([BINLOG_MAGIC, ...list]));
  return files;
}

async function collect(server: MariaDbServer, start: DumpStart, serverId: number): Promise<StreamEvent[]> {
  const stream = await openBinlogStream({
    host: server.host,
    port: server.port,
    user: 'repl',
    password: 'repl-pw',
    serverId,
    start,
    nonBlocking: true,
  });
  const events: StreamEvent[] = [];
  for await (const ev of stream) events.push(ev);
  return events;
}

describe('replication client against MariaDB', { timeout: 120_000 }, () => {
  let server: MariaDbServer;
  let disk: (file: string) => Buffer;
  /** The active file as it will be once closed: the server clears LOG_EVENT_BINLOG_IN_USE_F (FDE flags, byte 21) then. */
  let closedForm: (file: string) => Buffer;
  /** The position after the first two transactions (CREATE DATABASE/TABLE are the first two). */
  let secondTxnGtid: string;

  before(async () => {
    server = await MariaDbServer.start({ extraArgs: ['--max-allowed-packet=64M'] });
    disk = (file) => readFileSync(join(server.datadir, file));
    closedForm = (file) => {
      const b = Buffer.from(disk(file));
      b[21] = (b[21] as number) & ~0x01;
      return b;
    };
    await server.query("CREATE USER 'repl'@'%' IDENTIFIED BY 'repl-pw'");
    await server.query("GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'repl'@'%'");
    await server.query('CREATE DATABASE shop');
    await server.query('CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(200), body LONGBLOB) ENGINE=InnoDB');
    await server.query("INSERT INTO shop.items (id, name) VALUES (1, 'one'), (2, 'two')");
    const [row] = await server.query<{ gtid: string }[]>('SELECT @@gtid_binlog_pos AS gtid');
    secondTxnGtid = String(row?.gtid);
    await server.query("INSERT INTO shop.items (id, name) VALUES (3, 'three')");
    await server.query("UPDATE shop.items SET name = 'uno' WHERE id = 1");
    // One row event larger than 16 MiB: its packet is split into continuation packets.
    await server.query("INSERT INTO shop.items (id, name, body) VALUES (4, 'big', REPEAT('x', 17 * 1024 * 1024))");
    await server.query('DELETE FROM shop.items WHERE id = 2');
    await server.query('FLUSH BINARY LOGS');
    await server.query("INSERT INTO shop.items (id, name) VALUES (5, 'five')");
  });

  after(async () => {
    await server?.stop();
  });

  it('rebuilds both binlog files byte for byte from a file/position dump', async () => {
    const events = await collect(server, { file: FIRST, position: 4 }, 1001);
    const files = rebuild(events);
    assert.deepEqual([...files.keys()], [FIRST, SECOND]);
    assert.ok((files.get(FIRST) as Buffer).equals(disk(FIRST)), 'closed file identical');
    assert.ok((files.get(SECOND) as Buffer).equals(closedForm(SECOND)), 'active file identical but for the in-use flag');
    // Per file: a fake ROTATE first (flag 0x20, log_pos 0), then the file's FORMAT_DESCRIPTION at 4.
    const fake = events.filter((e) => e.artificial);
    assert.deepEqual(
      fake.map((e) => [e.type, e.file, e.logPos, e.flags & 0x20, e.timestamp]),
      [
        [EventType.ROTATE, FIRST, 0, 0x20, 0],
        [EventType.ROTATE, SECOND, 0, 0x20, 0],
      ],
    );
    const fdes = events.filter((e) => e.type === EventType.FORMAT_DESCRIPTION);
    assert.deepEqual(fdes.map((e) => [e.file, e.start, e.artificial]), [[FIRST, 4, false], [SECOND, 4, false]]);
    assert.ok(events.some((e) => e.eventSize > 16 * 1024 * 1024), 'an event over 16 MiB came through');
    assert.ok(events.some((e) => e.type === EventType.MARIA_ANNOTATE_ROWS), 'ANNOTATE_ROWS events are sent');
  });

  it('rebuilds the same bytes from a GTID dump that starts at the empty position', async () => {
    const files = rebuild(await collect(server, { gtid: '' }, 1002));
    assert.ok((files.get(FIRST) as Buffer).equals(disk(FIRST)));
    assert.ok((files.get(SECOND) as Buffer).equals(closedForm(SECOND)));
  });

  it('resumes after a GTID: the file head, a hole, a fake GTID_LIST at the resume point, then the file\'s bytes', async () => {
    const events = await collect(server, { gtid: secondTxnGtid }, 1003);
    const first = events.filter((e) => e.file === FIRST);
    // The primary zeroes `created` in this FDE while the position is not reached: not the file's bytes.
    assert.deepEqual(
      first.slice(0, 2).map((e) => [e.type, e.artificial]),
      [
        [EventType.ROTATE, true],
        [EventType.FORMAT_DESCRIPTION, true],
      ],
    );
    const marker = first.find((e) => e.type === EventType.MARIA_GTID_LIST && e.artificial);
    assert.ok(marker, 'a fake GTID_LIST marks where sending resumes');
    const afterMarker = first.slice(first.indexOf(marker) + 1).filter((e) => !e.artificial);
    assert.equal(afterMarker[0]?.start, marker.logPos);
    assert.equal(afterMarker[0]?.type, EventType.MARIA_GTID);
    const file = disk(FIRST);
    for (const ev of first.filter((e) => !e.artificial)) {
      assert.ok(ev.bytes.equals(file.subarray(ev.start as number, ev.end as number)), `${ev.file}:${ev.start}`);
    }
  });

  it('marks the FORMAT_DESCRIPTION re-sent for a mid-file start as artificial, and the rest matches the file', async () => {
    const gtids = (await collect(server, { file: FIRST, position: 4 }, 1004)).filter((e) => e.type === EventType.MARIA_GTID);
    const secondTxnStart = gtids[1]?.start as number;
    assert.ok(secondTxnStart > 4);
    const events = await collect(server, { file: FIRST, position: secondTxnStart }, 1009);
    const first = events.filter((e) => e.file === FIRST);
    assert.deepEqual(
      first.slice(0, 2).map((e) => [e.type, e.artificial, e.logPos]),
      [
        [EventType.ROTATE, true, 0],
        [EventType.FORMAT_DESCRIPTION, true, 0],
      ],
    );
    const own = first.filter((e) => !e.artificial);
    assert.equal(own[0]?.start, secondTxnStart);
    const rebuilt = rebuild(own).get(FIRST) as Buffer;
    assert.ok(rebuilt.subarray(4).equals(disk(FIRST).subarray(secondTxnStart)));
  });

  it('pauses the socket while the consumer is behind and still delivers every byte', async () => {
    const stream = await openBinlogStream({
      host: server.host,
      port: server.port,
      user: 'repl',
      password: 'repl-pw',
      serverId: 1010,
      start: { file: FIRST, position: 4 },
      nonBlocking: true,
      highWaterMarkBytes: 64 * 1024,
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(stream.isPaused, true, 'paused while nobody reads');
    const events: StreamEvent[] = [];
    for await (const ev of stream) events.push(ev);
    assert.ok((rebuild(events).get(FIRST) as Buffer).equals(disk(FIRST)));
  });

  it('waits for new events with heartbeats, delivers them, and stops on close()', async () => {
    const stream = await openBinlogStream({
      host: server.host,
      port: server.port,
      user: 'repl',
      password: 'repl-pw',
      serverId: 1005,
      start: { file: SECOND, position: 4 },
      heartbeatMs: 200,
    });
    let heartbeat: StreamEvent | undefined;
    for (let i = 0; i < 100 && !heartbeat; i++) {
      const r = await stream.next();
      assert.equal(r.done, false);
      if (r.value.type === EventType.HEARTBEAT) heartbeat = r.value;
    }
    assert.ok(heartbeat?.artificial);
    assert.equal(heartbeat?.logPos, disk(SECOND).length, 'a heartbeat carries the current end of the file');
    await server.query("INSERT INTO shop.items (id, name) VALUES (6, 'six')");
    let xid: StreamEvent | undefined;
    for (let i = 0; i < 100 && !xid; i++) {
      const r = await stream.next();
      if (!r.done && r.value.type === EventType.XID) xid = r.value;
    }
    assert.equal(xid?.end, disk(SECOND).length);
    const pending = stream.next();
    stream.close();
    assert.deepEqual(await pending, { done: true, value: undefined });
    assert.deepEqual(await stream.next(), { done: true, value: undefined });
  });

  it('answers setup queries with rows of strings', async () => {
    const client = await ReplicationClient.connect({ host: server.host, port: server.port, user: 'repl', password: 'repl-pw' });
    try {
      assert.ok(client.isMariaDb);
      const r = await client.query('SELECT @@global.binlog_checksum AS c, NULL AS n, 42 AS x');
      assert.deepEqual(r, { columns: ['c', 'n', 'x'], rows: [['CRC32', null, '42']], affectedRows: 0 });
    } finally {
      client.close();
    }
  });

  it('rejects a wrong password with an AuthenticationError naming user@host:port', async () => {
    await assert.rejects(
      openBinlogStream({ host: server.host, port: server.port, user: 'repl', password: 'nope', serverId: 1006, start: { gtid: '' } }),
      (err: unknown) =>
        err instanceof AuthenticationError && err.message.startsWith(`authentication failed for repl@127.0.0.1:${server.port}: Access denied`),
    );
  });

  it('reports a purged start file and a purged GTID start as BinlogPurgedError', async () => {
    await server.query('FLUSH BINARY LOGS');
    await server.query("PURGE BINARY LOGS TO 'mariadb-bin.000003'");
    await assert.rejects(collect(server, { file: FIRST, position: 4 }, 1007), (err: unknown) => {
      assert.ok(err instanceof BinlogPurgedError);
      assert.equal(err.errno, 1236);
      assert.equal(err.position, `${FIRST}:4`);
      assert.match(err.message, /binlog dump from mariadb-bin\.000001:4 on .*Could not find first log file name in binary log index file/);
      assert.match(err.hint ?? '', /new base backup/);
      assert.equal(err.retryable, false);
      return true;
    });
    await assert.rejects(collect(server, { gtid: '' }, 1008), (err: unknown) => {
      assert.ok(err instanceof BinlogPurgedError);
      assert.equal(err.position, "gtid ''");
      assert.match(err.serverMessage, /Could not find GTID state requested by slave in any binlog files/);
      return true;
    });
  });
});
