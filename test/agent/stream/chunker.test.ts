import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Readable } from 'node:stream';
import { sha256Hex } from '../../../agent/store/bytes.js';
import { MemoryObjectStore } from '../../../agent/store/memory-object-store.js';
import { Chunker, ChunkOrderError, type Chunk, type ChunkerEvent } from '../../../agent/stream/chunker.js';
import { fileSpill } from '../../../agent/stream/spill.js';

/** A synthetic event stream: `spec` letters are G(tid) Q(uery) X(id) R(otate) F(ormat desc). */
function events(spec: string, file = 'f.000001', start = 4, size = 10): ChunkerEvent[] {
  let pos = start;
  let n = 0;
  return [...spec].map((kind) => {
    const ev: ChunkerEvent = {
      file,
      start: pos,
      bytes: Buffer.alloc(size, kind.charCodeAt(0)),
      timestampSec: 1000 + pos,
      boundary: kind === 'X' || kind === 'F',
      endsFile: kind === 'R',
      ...(kind === 'G' ? { gtid: `0-1-${++n}` } : {}),
    };
    pos += size;
    return ev;
  });
}

/** Events of transactions in the given GTIDs, each G Q X, with a GTID_LIST first when `list` is given. */
function transactions(gtids: string[], list?: string): ChunkerEvent[] {
  const out: ChunkerEvent[] = [];
  let pos = 4;
  const push = (ev: Omit<ChunkerEvent, 'file' | 'start' | 'bytes' | 'timestampSec'>) => {
    out.push({ file: 'f.000001', start: pos, bytes: Buffer.alloc(10), timestampSec: 1, ...ev });
    pos += 10;
  };
  if (list !== undefined) push({ boundary: true, endsFile: false, gtidList: list, serverId: 1 });
  for (const g of gtids) {
    push({ boundary: false, endsFile: false, gtid: g, serverId: Number(g.split('-')[1]) });
    push({ boundary: false, endsFile: false, serverId: Number(g.split('-')[1]) });
    push({ boundary: true, endsFile: false, serverId: Number(g.split('-')[1]) });
  }
  return out;
}

describe('chunker', () => {
  it("records the whole GTID position at each chunk's end, every domain", () => {
    const c = new Chunker({ maxBytes: 1, maxAgeMs: 1000, gtidPos: '0-1-10,3-1-4' });
    const chunks = transactions(['0-1-11', '7-2-1', '0-1-12']).flatMap((e) => c.push(e, 0));
    assert.deepEqual(chunks.map((k) => k.gtidPos), ['0-1-11,3-1-4', '0-1-11,3-1-4,7-2-1', '0-1-12,3-1-4,7-2-1']);
    assert.deepEqual(chunks.map((k) => k.serverIds), [[1], [2], [1]]);
  });

  it('takes the binlog state a GTID_LIST states, keeping the later entry per domain', () => {
    const c = new Chunker({ maxBytes: 1 << 20, maxAgeMs: 1000 });
    for (const e of transactions(['5-1-3'], '0-1-9,0-2-12,5-1-2')) c.push(e, 0);
    assert.deepEqual(c.flush().map((k) => k.gtidPos), ['0-2-12,5-1-3']);
  });

  it('does not count a transaction cut off by a crash (a new file without a rotate)', () => {
    const c = new Chunker({ maxBytes: 1 << 20, maxAgeMs: 1000, gtidPos: '0-1-1' });
    const [g, q] = transactions(['0-1-2']);
    c.push(g!, 0);
    c.push(q!, 0);
    const cut = c.push({ file: 'f.000002', start: 4, bytes: Buffer.alloc(10), timestampSec: 1, boundary: true, endsFile: false, gtidList: '0-1-1' }, 0);
    assert.deepEqual(cut, []);
    assert.deepEqual(c.flush().map((k) => k.gtidPos), ['0-1-1']);
  });

  it('never cuts inside a transaction, however small the size limit', () => {
    const c = new Chunker({ maxBytes: 1, maxAgeMs: 1000 });
    const chunks = events('FGQQXGQX').flatMap((e) => c.push(e, 0));
    assert.deepEqual(chunks.map((k) => [k.start, k.end]), [[4, 14], [14, 54], [54, 84]]);
    assert.deepEqual(chunks.map((k) => [k.firstGtid, k.lastGtid]), [['', ''], ['0-1-1', '0-1-1'], ['0-1-2', '0-1-2']]);
  });

  it('cuts by size at the first boundary past the limit', () => {
    const c = new Chunker({ maxBytes: 35, maxAgeMs: 1000 });
    const chunks = events('GQXGQXGQX').flatMap((e) => c.push(e, 0));
    assert.deepEqual(chunks.map((k) => [k.start, k.end, k.events]), [[4, 64, 6]]);
    assert.equal(c.heldBytes, 30);
    assert.deepEqual(c.flush().map((k) => [k.start, k.end]), [[64, 94]]);
  });

  it('cuts by age only finished transactions, and nothing when idle', () => {
    const c = new Chunker({ maxBytes: 1 << 20, maxAgeMs: 100 });
    const evs = events('GQXGQ');
    for (const e of evs) assert.deepEqual(c.push(e, 0), []);
    assert.deepEqual(c.tick(99), []);
    const [k] = c.tick(100);
    assert.deepEqual([k!.start, k!.end, k!.lastGtid], [4, 34, '0-1-1']);
    assert.deepEqual(c.tick(10_000), []); // the open transaction waits for its end
    assert.equal(c.heldBytes, 20);
  });

  it('ends a chunk at a rotate and starts the next file fresh', () => {
    const c = new Chunker({ maxBytes: 1 << 20, maxAgeMs: 100 });
    const a = events('GQXR').flatMap((e) => c.push(e, 0));
    assert.deepEqual(a.map((k) => [k.file, k.start, k.end, k.endsFile]), [['f.000001', 4, 44, true]]);
    const b = events('FGQX', 'f.000002').flatMap((e) => c.push(e, 0));
    assert.deepEqual(b, []);
    assert.deepEqual(c.flush().map((k) => [k.file, k.start, k.end]), [['f.000002', 4, 44]]);
  });

  it('drops an unfinished transaction when the server switches files without a rotate', () => {
    const c = new Chunker({ maxBytes: 1 << 20, maxAgeMs: 100 });
    events('GQXGQ').forEach((e) => c.push(e, 0));
    const cut = events('F', 'f.000002').flatMap((e) => c.push(e, 0));
    assert.deepEqual(cut.map((k) => [k.file, k.start, k.end]), [['f.000001', 4, 34]]);
    assert.equal(c.heldBytes, 10);
  });

  it('refuses an event that does not follow the previous one', () => {
    const c = new Chunker({ maxBytes: 1 << 20, maxAgeMs: 100 });
    const [a, b, x] = events('GQX');
    c.push(a!, 0);
    assert.throws(() => c.push(x!, 0), ChunkOrderError);
    void b;
  });

  it('concatenated chunks give back the stream byte for byte', () => {
    const c = new Chunker({ maxBytes: 25, maxAgeMs: 5 });
    const evs = events('FGQXGQQQXGXGQXGQQX');
    const chunks = evs.flatMap((e, i) => [...c.push(e, i), ...c.tick(i)]).concat(c.flush());
    assert.deepEqual(Buffer.concat(chunks.map((k) => k.body!)), Buffer.concat(evs.map((e) => e.bytes)));
    for (let i = 1; i < chunks.length; i++) assert.equal(chunks[i]!.start, chunks[i - 1]!.end);
  });

  describe('a transaction larger than the limit', () => {
    const spillDir = mkdtempSync(join(tmpdir(), 'squirrel-spill-test-'));
    after(() => rmSync(spillDir, { recursive: true, force: true }));

    it('is spilled to disk and becomes one chunk of its own, after the finished ones', () => {
      const c = new Chunker({ maxBytes: 35, maxAgeMs: 1000, spill: fileSpill(spillDir) });
      const evs = events('GQXGQQQQQQXGQX');
      const chunks = evs.flatMap((e) => c.push(e, 0)).concat(c.flush());
      assert.deepEqual(chunks.map((k) => [k.start, k.end, k.spilled !== undefined]), [[4, 34, false], [34, 114, true], [114, 144, false]]);
      const big = chunks[1]!;
      assert.deepEqual(readFileSync(big.spilled!.path), Buffer.concat(evs.slice(3, 11).map((e) => e.bytes)));
      assert.equal(big.sizeBytes, 80);
      assert.equal(big.firstGtid, '0-1-2');
      assert.equal(big.spilled!.sha256, createHash('sha256').update(readFileSync(big.spilled!.path)).digest('hex'));
      assert.ok(c.heldBytes <= 35, 'a spilled transaction is not held in memory');
      big.spilled!.remove();
      assert.equal(existsSync(big.spilled!.path), false);
    });

    it('holds at most one event of it in memory while it streams', () => {
      const c = new Chunker({ maxBytes: 25, maxAgeMs: 1000, spill: fileSpill(spillDir) });
      let peak = 0;
      for (const e of events(`G${'Q'.repeat(200)}X`)) {
        c.push(e, 0);
        peak = Math.max(peak, c.heldBytes);
      }
      assert.ok(peak <= 30, `held ${peak} bytes`);
    });

    it('is uploaded while it is written, when the spill stages uploads', async () => {
      const received: { bytes: number; finished: boolean }[] = [];
      let finished = false;
      const store = new MemoryObjectStore();
      const stage = async (body: Readable) => {
        const parts: Buffer[] = [];
        for await (const part of body) {
          parts.push(part as Buffer);
          received.push({ bytes: (part as Buffer).length, finished });
        }
        const all = Buffer.concat(parts);
        await store.putIfAbsent('staging/x', all, sha256Hex(all), {});
        return { key: 'staging/x', sizeBytes: all.length, sha256: sha256Hex(all) };
      };
      const c = new Chunker({ maxBytes: 25, maxAgeMs: 1000, spill: fileSpill(spillDir, stage) });
      const evs = events(`G${'Q'.repeat(50)}X`);
      const out: Chunk[] = [];
      for (const e of evs) {
        out.push(...c.push(e, 0));
        await new Promise((r) => setTimeout(r, 2)); // time passes between events, as in the agent
      }
      finished = true;
      const [big] = out;
      const staged = await big!.spilled!.staged!;
      assert.ok(received.some((r) => !r.finished), 'nothing was uploaded before the transaction ended');
      assert.equal(staged.sha256, big!.spilled!.sha256);
      assert.deepEqual((await store.get('staging/x'))?.body, Buffer.concat(evs.map((e) => e.bytes)));
      big!.spilled!.remove();
    });

    it('is discarded with its file when the server switches files mid-transaction', () => {
      const c = new Chunker({ maxBytes: 15, maxAgeMs: 1000, spill: fileSpill(spillDir) });
      events('GQQQ').forEach((e) => c.push(e, 0));
      const before = readdirSync(spillDir).length;
      c.push(events('F', 'f.000002')[0]!, 0);
      assert.equal(readdirSync(spillDir).length, before - 1);
    });
  });
});
