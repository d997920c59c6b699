/**
 * The one place that knows squirrel's S3 key and DynamoDB item layout.
 *
 * Chunk keys: `<prefix><clusterId>/binlog/<epoch, 6 digits>/<seq, 12 digits>-<file>-<start>-<end>`.
 * Zero-padded epoch and seq make lexicographic order equal stream order.
 */
export interface ChunkKey {
  epoch: number;
  seq: number;
  file: string;
  start: number;
  end: number;
}

const pad = (n: number, width: number) => String(n).padStart(width, '0');

export function clusterPrefix(prefix: string, clusterId: string): string {
  return `${prefix}${clusterId}/`;
}

export function binlogPrefix(prefix: string, clusterId: string, epoch?: number): string {
  const base = `${clusterPrefix(prefix, clusterId)}binlog/`;
  return epoch === undefined ? base : `${base}${pad(epoch, 6)}/`;
}

export function chunkKey(prefix: string, clusterId: string, c: ChunkKey): string {
  return `${binlogPrefix(prefix, clusterId, c.epoch)}${pad(c.seq, 12)}-${c.file}-${c.start}-${c.end}`;
}

const chunkPattern = /\/binlog\/(\d{6})\/(\d{12})-(.+)-(\d+)-(\d+)$/;

/** Parses a chunk key; undefined when the key is not one. */
export function parseChunkKey(key: string): ChunkKey | undefined {
  const m = chunkPattern.exec(key);
  if (!m) return undefined;
  return { epoch: Number(m[1]), seq: Number(m[2]), file: m[3]!, start: Number(m[4]), end: Number(m[5]) };
}

export function basePrefix(prefix: string, clusterId: string): string {
  return `${clusterPrefix(prefix, clusterId)}base/`;
}

/** DynamoDB: one partition per cluster; the state item and one history item per epoch. */
export function clusterPk(clusterId: string): string {
  return `cluster#${clusterId}`;
}
export const stateSk = 'state';
/** The item recording how the cluster's last failover (or primary-replacing restore) ended. */
export const lastFailoverSk = 'failover#last';
export function epochSk(epoch: number): string {
  return `epoch#${pad(epoch, 6)}`;
}

/**
 * Prune markers: `<prefix><clusterId>/pruned/<epoch, 6>/<seq, 12>` records that the epoch's chunks
 * through that seq were deleted on purpose (written before the deletion).
 */
export function prunedPrefix(prefix: string, clusterId: string): string {
  return `${clusterPrefix(prefix, clusterId)}pruned/`;
}

export function pruneMarkerKey(prefix: string, clusterId: string, epoch: number, throughSeq: number): string {
  return `${prunedPrefix(prefix, clusterId)}${pad(epoch, 6)}/${pad(throughSeq, 12)}`;
}

export function parsePruneMarkerKey(key: string): { epoch: number; throughSeq: number } | undefined {
  const m = /\/pruned\/(\d{6})\/(\d{12})$/.exec(key);
  return m ? { epoch: Number(m[1]), throughSeq: Number(m[2]) } : undefined;
}

/** Where a large transaction is uploaded while it streams, before it is copied to its chunk key. */
export function stagingPrefix(prefix: string, clusterId: string): string {
  return `${clusterPrefix(prefix, clusterId)}staging/`;
}

/**
 * Restore records: `<prefix><clusterId>/restores/<time, ISO without punctuation>-<id>.json`, one per
 * finished restore, its phases and amounts; the newest gives the cluster's measured restore rates.
 */
export function restoresPrefix(prefix: string, clusterId: string): string {
  return `${clusterPrefix(prefix, clusterId)}restores/`;
}

export function restoreRecordKey(prefix: string, clusterId: string, at: Date, id: string): string {
  return `${restoresPrefix(prefix, clusterId)}${at.toISOString().replace(/[-:.]/g, '')}-${id}.json`;
}
