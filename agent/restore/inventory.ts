import { readCatalog, type BackupCatalog } from '../backup/catalog.js';
import { binlogPrefix, parseChunkKey } from '../keys.js';
import type { ObjectStore } from '../ports/object-store.js';
import type { StateStore } from '../ports/state-store.js';
import { ClusterStateRepo, type ClusterState, type TimelineStart } from '../cluster/repo.js';
import { RestoreRefusedError } from '../errors.js';
import { readPruneMarkers } from '../retention/prune-marker.js';
import { retrying } from '../retry.js';
import type { ChunkInfo } from './plan.js';

/**
 * Everything a restore or prune plan is computed from, read from the stores: the state item, each
 * epoch's timeline start, the base backups and the chunk objects. Chunk metadata (timestamps,
 * GTIDs) costs one HEAD per chunk and is read only when `withMetadata` (time and GTID targets);
 * a `latest` restore reads it for the planned chunks alone (readChunkMetadata).
 */
export interface Inventory {
  state: ClusterState;
  starts: Map<number, TimelineStart>;
  catalog: BackupCatalog;
  chunks: ChunkInfo[];
  /** Per epoch, the seq through which chunks were pruned on purpose. */
  prunedThrough: Map<number, number>;
}

export async function readInventory(
  objects: ObjectStore,
  stateStore: StateStore,
  prefix: string,
  clusterId: string,
  opts: { withMetadata: boolean; concurrency?: number },
): Promise<Inventory> {
  // with every epoch's handover: a restore ends each older epoch there
  const history = await new ClusterStateRepo(stateStore, clusterId).readHistory();
  if (!history) throw new RestoreRefusedError(`cluster ${clusterId}`, 'the cluster has no state item', { hint: 'Check SQUIRREL_CLUSTER_ID and SQUIRREL_TABLE.' });
  const { state, starts } = history;
  // an unattended restore (a failover) rides out a transient store failure: the listings are read
  // again from the start, a bounded number of times
  let failures = 0;
  return retrying(
    async () => {
      const catalog = await readCatalog(objects, prefix, clusterId);
      const chunks: ChunkInfo[] = [];
      for await (const o of objects.list(binlogPrefix(prefix, clusterId))) {
        const k = parseChunkKey(o.key);
        if (!k) continue;
        chunks.push({ key: o.key, ...k, sizeBytes: o.sizeBytes, sha256: '', firstGtid: '', lastGtid: '', gtidPos: '', serverIds: [], firstTs: 0, lastTs: 0, encoding: 'none' });
      }
      if (opts.withMetadata) await readChunkMetadata(objects, chunks, opts.concurrency);
      const prunedThrough = await readPruneMarkers(objects, prefix, clusterId);
      return { state, starts, catalog, chunks, prunedThrough };
    },
    { stopped: () => failures >= INVENTORY_ATTEMPTS, onRetry: () => failures++ },
  );
}

/** Attempts at reading the object store's listings before a transient failure is final (about 20 s of backoff). */
export const INVENTORY_ATTEMPTS = 8;

/**
 * Fills in each chunk's metadata (timestamps, GTIDs, GTID position, server ids) in place: one HEAD
 * per chunk, `concurrency` at a time. A chunk deleted since the listing keeps its blanks: the
 * chain check finds it missing.
 */
export async function readChunkMetadata(objects: ObjectStore, chunks: ChunkInfo[], concurrency = 16): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < chunks.length) {
      const c = chunks[next++]!;
      const head = await objects.head(c.key);
      if (!head) continue;
      const m = head.metadata;
      Object.assign(c, {
        sha256: m.sha256 ?? '',
        firstGtid: m['first-gtid'] ?? '',
        lastGtid: m['last-gtid'] ?? '',
        gtidPos: m['gtid-pos'] ?? '',
        serverIds: (m['server-ids'] ?? '').split(',').filter((x) => /^\d+$/.test(x)).map(Number),
        firstTs: Number(m['first-ts'] ?? 0),
        lastTs: Number(m['last-ts'] ?? 0),
        encoding: m.encoding ?? 'none',
      });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}
