import { clusterPrefix } from '../keys.js';
import type { ObjectStore } from '../ports/object-store.js';

/**
 * A prune marker records that an epoch's chunks up to a seq were deleted on purpose, so that a
 * restore (and verify) can tell a pruned prefix of the chain from a lost chunk. Written before the
 * chunks are deleted (a crash mid-prune leaves a marker over chunks that still exist: harmless);
 * write-once like every object: `<prefix><clusterId>/pruned/<epoch, 6>/<seq, 12>`.
 */
const pad = (n: number, w: number) => String(n).padStart(w, '0');

export function prunedPrefix(prefix: string, clusterId: string): string {
  return `${clusterPrefix(prefix, clusterId)}pruned/`;
}

export function pruneMarkerKey(prefix: string, clusterId: string, epoch: number, throughSeq: number): string {
  return `${prunedPrefix(prefix, clusterId)}${pad(epoch, 6)}/${pad(throughSeq, 12)}`;
}

/** Per epoch, the highest seq through which chunks were pruned. */
export async function readPruneMarkers(objects: ObjectStore, prefix: string, clusterId: string): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for await (const o of objects.list(prunedPrefix(prefix, clusterId))) {
    const m = /\/pruned\/(\d{6})\/(\d{12})$/.exec(o.key);
    if (!m) continue;
    const epoch = Number(m[1]);
    out.set(epoch, Math.max(out.get(epoch) ?? 0, Number(m[2])));
  }
  return out;
}
