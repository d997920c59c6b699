import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BinlogParser } from '../../../agent/binlog/event-parser.js';
import { EventType } from '../../../agent/binlog/event-types.js';
import { ServerError } from '../../../agent/errors.js';
import { silentLogger } from '../../../agent/log.js';
import type { ObjectStore } from '../../../agent/ports/object-store.js';
import type { StreamEvent } from '../../../agent/protocol/dump-decoder.js';
import { openBinlogStream, type DumpStart } from '../../../agent/protocol/replication-client.js';
import { startFakePrimary, type FakePrimaryOptions } from '../../../agent/serve/fake-primary.js';
import { sha256Hex } from '../../../agent/store/bytes.js';
import { readFixture } from '../binlog/fixtures.js';
import { memoryCluster, type MemoryCluster } from './memory-cluster.js';

const DIR = 'mariadb/11.8/mariadb-poc/domain_id_0/';
const NAMES = [4, 5, 6, 7].map((n) => `mariadb-repl-bin.00000${n}`);
const FILES: [string, Buffer][] = NAMES.map((n) => [n, readFixture(DIR + n)]);

async function dump(cluster: MemoryCluster, start: DumpStart, extra: Partial<FakePrimaryOptions> = {}): Promise<StreamEvent[]> {
  const primary = await startFakePrimary({ objects: cluster.objects, stateStore: cluster.stateStore, prefix: '', clusterId: cluster.clusterId, user: 'u', password: 'p', log: silentLogger, ...extra });
  try {
    const stream = await openBinlogStream({ host: primary.host, port: primary.port, user: 'u', password: 'p', serverId: 77, start, nonBlocking: true, heartbeatMs: 0 });
    const out: StreamEvent[] = [];
    for await (const ev of stream) out.push(ev);
    return out;
  } finally {
    await primary.stop();
  }
}

/** Made up by the fake primary. (These recordings write log_pos 0 in QUERY events, so log_pos cannot tell.) */
const madeUp = (ev: StreamEvent) => (ev.flags & 0x20) !== 0 || ev.type === EventType.HEARTBEAT || (ev.type === EventType.FORMAT_DESCRIPTION && ev.logPos === 0);

/** The file bytes the dump carried, per file. */
function rebuilt(events: StreamEvent[]): Map<string, Buffer> {
  const parts = new Map<string, Buffer[]>();
  for (const ev of events) {
    if (madeUp(ev)) continue;
    if (!parts.has(ev.file)) parts.set(ev.file, [Buffer.from([0xfe, 0x62, 0x69, 0x6e])]);
    parts.get(ev.file)!.push(ev.bytes);
  }
  return new Map([...parts].map(([f, b]) => [f, Buffer.concat(b)]));
}

function withoutInUse(file: Buffer): Buffer {
  const copy = Buffer.from(file);
  copy[4 + 17] = copy[4 + 17]! & ~1;
  return copy;
}

const gtids = (events: StreamEvent[]) =>
  events.filter((e) => e.type === EventType.MARIA_GTID).map((e) => `0-${e.serverId}-${e.bytes.readBigUInt64LE(19)}`);

describe('fake primary over an in-memory cluster (recorded MariaDB 11.8 binlogs)', () => {
  it('a file/position dump from the first file carries every file byte for byte, then EOF', async () => {
    const cluster = await memoryCluster('mem', FILES, 8192);
    const events = await dump(cluster, { file: NAMES[0]!, position: 4 });
    const files = rebuilt(events);
    assert.deepEqual([...files.keys()], NAMES);
    for (const [name, bytes] of FILES) assert.ok(files.get(name)!.equals(withoutInUse(bytes)), `${name} differs`);
    const rotates = events.filter((e) => e.type === EventType.ROTATE && e.artificial).map((e) => e.file);
    assert.deepEqual(rotates, NAMES);
  });

  it('a file/position dump can start at any event boundary, and refuses a position inside an event', async () => {
    const cluster = await memoryCluster('mem', FILES, 8192);
    const events = new BinlogParser().feed(FILES[1]![1]);
    const middle = events.filter((e) => e.header.typeCode === EventType.MARIA_GTID)[40]!;
    const got = await dump(cluster, { file: NAMES[1]!, position: middle.offset });
    const own = got.filter((e) => !madeUp(e));
    assert.ok(own[0]!.bytes.equals(middle.bytes), 'the first event sent is the one at the position');
    const fde = got.find((e) => e.type === EventType.FORMAT_DESCRIPTION)!;
    assert.equal(fde.logPos, 0, 'the FORMAT_DESCRIPTION is re-sent out of place');
    await assert.rejects(dump(cluster, { file: NAMES[1]!, position: middle.offset + 1 }), (err: unknown) => {
      assert.ok(err instanceof ServerError);
      assert.equal(err.errno, 1236);
      assert.match(err.message, /impossible position/);
      return true;
    });
  });

  it('a GTID dump starts in the file whose GTID_LIST precedes the position and skips the groups up to it', async () => {
    const cluster = await memoryCluster('mem', FILES, 4096);
    const got = await dump(cluster, { gtid: '0-10-262700' });
    assert.equal(got[0]!.type, EventType.ROTATE);
    assert.equal(got[0]!.file, NAMES[2]);
    const sent = gtids(got);
    assert.equal(sent[0], '0-10-262701');
    assert.equal(sent[sent.length - 1], '0-10-262796');
    assert.equal(sent.length, 262796 - 262700);
    const fakeList = got.find((e) => e.type === EventType.MARIA_GTID_LIST && e.artificial);
    assert.ok(fakeList, 'a fake GTID_LIST tells the replica where it stands');
  });

  it('a GTID position at a file\'s end starts the next file from its beginning', async () => {
    const cluster = await memoryCluster('mem', FILES, 4096);
    const got = await dump(cluster, { gtid: '0-10-262667' });
    assert.equal(got[0]!.file, NAMES[2]);
    assert.equal(gtids(got)[0], '0-10-262668');
  });

  it('a GTID position no file can hold is refused with error 1236', async () => {
    const cluster = await memoryCluster('mem', FILES, 4096);
    await assert.rejects(dump(cluster, { gtid: '0-10-100' }), (err: unknown) => err instanceof ServerError && /Could not find GTID state/.test(err.message));
  });

  it('stops after the transaction of --until gtid:', async () => {
    const cluster = await memoryCluster('mem', FILES, 4096);
    const sent = gtids(await dump(cluster, { file: NAMES[0]!, position: 4 }, { until: { gtid: '0-10-262600' } }));
    assert.equal(sent[sent.length - 1], '0-10-262600');
  });

  it('an event whose CRC32 is wrong (in a chunk whose SHA-256 matches) ends the dump with an error naming the chunk', async () => {
    const cluster = await memoryCluster('mem', FILES, 4096);
    const victim = cluster.keys[5]!;
    const stored = cluster.objects.objects.get(victim)!;
    stored.body[stored.body.length - 30] = stored.body[stored.body.length - 30]! ^ 0xff;
    stored.metadata.sha256 = sha256Hex(stored.body);
    const err = await dump(cluster, { file: NAMES[0]!, position: 4 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof ServerError, String(err));
    assert.equal(err.errno, 1236);
    assert.match(err.message, new RegExp(`${victim}.*crc32 mismatch`));
  });

  it('a missing chunk (a gap) ends the dump with an error naming it', async () => {
    const cluster = await memoryCluster('mem', FILES, 4096);
    await cluster.objects.delete(cluster.keys[7]!);
    await assert.rejects(dump(cluster, { file: NAMES[0]!, position: 4 }), (err: unknown) => err instanceof ServerError && /seq 8 is missing/.test(err.message));
  });

  it('reads ahead, but never more than readAheadChunks chunks at once', async () => {
    const cluster = await memoryCluster('mem', FILES, 2048);
    let inFlight = 0;
    let most = 0;
    const slow: ObjectStore = Object.create(cluster.objects) as ObjectStore;
    slow.get = async (key: string) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((r) => setTimeout(r, 5));
      inFlight--;
      return cluster.objects.get(key);
    };
    const events = await dump({ ...cluster, objects: slow as never }, { file: NAMES[0]!, position: 4 }, { readAheadChunks: 3 });
    assert.ok(events.length > 3000);
    // three ahead of the one being sent
    assert.ok(most >= 2 && most <= 4, `at most ${most} reads at once`);
  });
});
