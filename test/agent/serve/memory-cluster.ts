/**
 * A cluster held in memory for the fake primary's unit tests: recorded binlog files (shared
 * fixtures) cut into chunks at event boundaries, stored as the agent stores them, with a state item.
 */
import { BinlogParser } from '../../../agent/binlog/event-parser.js';
import { chunkKey } from '../../../agent/keys.js';
import { sha256Hex } from '../../../agent/store/bytes.js';
import { MemoryObjectStore } from '../../../agent/store/memory-object-store.js';
import { MemoryStateStore } from '../../../agent/store/memory-state-store.js';
import { ClusterStateRepo } from '../../../agent/cluster/repo.js';

export interface MemoryCluster {
  objects: MemoryObjectStore;
  stateStore: MemoryStateStore;
  clusterId: string;
  keys: string[];
}

/** Stores `files` (name -> whole file bytes, magic included) as chunks of about `chunkBytes`. */
export async function memoryCluster(clusterId: string, files: [string, Buffer][], chunkBytes: number): Promise<MemoryCluster> {
  const objects = new MemoryObjectStore();
  const stateStore = new MemoryStateStore();
  const repo = new ClusterStateRepo(stateStore, clusterId);
  await repo.claimFirstEpoch({ file: files[0]![0], pos: 4, gtid: '' }, 'test', Date.now(), 60_000);
  const keys: string[] = [];
  let seq = 0;
  for (const [file, bytes] of files) {
    const parser = new BinlogParser({ source: file });
    const events = parser.feed(bytes);
    let start = 4;
    for (let i = 0; i < events.length; i++) {
      const ev = events[i]!;
      const end = ev.offset + ev.bytes.length;
      if (end - start < chunkBytes && i < events.length - 1) continue;
      const body = bytes.subarray(start, end);
      const sha256 = sha256Hex(body);
      const key = chunkKey('', clusterId, { epoch: 1, seq: ++seq, file, start, end });
      await objects.putIfAbsent(key, body, sha256, { sha256, file, start: String(start), end: String(end), encoding: 'none' });
      keys.push(key);
      await repo.advance('test', { epoch: 1, seq, file, end, gtid: '', key, at: new Date().toISOString() });
      start = end;
    }
  }
  return { objects, stateStore, clusterId, keys };
}
