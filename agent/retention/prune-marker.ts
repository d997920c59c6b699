import { parsePruneMarkerKey, prunedPrefix } from '../keys.js';
import type { ObjectStore } from '../ports/object-store.js';

export { pruneMarkerKey, prunedPrefix } from '../keys.js';

/**
 * A prune marker records that an epoch's chunks up to a seq were deleted on purpose, so that a
 * restore (and verify) can tell a pruned prefix of the chain from a lost chunk. Written before the
 * chunks are deleted (a crash mid-prune leaves a marker over chunks that still exist: harmless);
 * write-once like every object. The key layout is in keys.ts.
 */

/** Per epoch, the highest seq through which chunks were pruned. */
export async function readPruneMarkers(objects: ObjectStore, prefix: string, clusterId: string): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for await (const o of objects.list(prunedPrefix(prefix, clusterId))) {
    const m = parsePruneMarkerKey(o.key);
    if (m) out.set(m.epoch, Math.max(out.get(m.epoch) ?? 0, m.throughSeq));
  }
  return out;
}
