import { compareFilePos } from '../backup/binlog-order.js';
import type { BackupManifest } from '../backup/manifest.js';
import type { ClusterState } from '../cluster/repo.js';
import type { ChunkInfo } from '../restore/plan.js';

/**
 * What `squirrel prune --keep <duration>` deletes. Pure: the inventory and `nowMs` in, a plan out.
 *
 * Every restore target inside the window `[now - keep, now]` must stay restorable. A target at
 * time T needs the newest complete backup consistent at or before T and every chunk from that
 * backup's position on. So the oldest backup to keep (the *floor*) is the newest one consistent
 * at or before the window's start (or the oldest one, when none is that old); it and every newer
 * backup are kept, and so the newest complete backup is never deleted. Chunks are deleted only
 * before the floor's binlog file (the start of that file holds the FORMAT_DESCRIPTION its replay
 * needs) and in epochs before the floor's; never a chunk after the floor's position.
 * Incomplete backups (no manifest) older than the floor and than the window are deleted too.
 * Without any complete backup nothing is deleted: the chunks are all there is.
 */
export interface RetentionInput {
  nowMs: number;
  keepMs: number;
  state: ClusterState;
  manifests: readonly BackupManifest[];
  /** Incomplete backups: id and every key under it. */
  incomplete: readonly { id: string; keys: readonly string[] }[];
  /** Every key under each complete backup's id. */
  keysById: ReadonlyMap<string, readonly string[]>;
  chunks: readonly ChunkInfo[];
}

export interface RetentionPlan {
  windowStart: string;
  /** The oldest backup kept; undefined when there is no complete backup. */
  floor: BackupManifest | undefined;
  keepBackups: string[];
  deleteBackups: { id: string; keys: string[]; reason: string }[];
  /** Chunk keys to delete, in key order. */
  deleteChunks: string[];
  /** Per epoch, the highest seq deleted (the prune marker to write first). */
  prunedThrough: Map<number, number>;
  bytes: number;
}

/** Backup ids begin with their start time (`20260125T123821Z-…`): the age of an incomplete one. */
export function backupIdTimeMs(id: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/.exec(id);
  return m ? Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) : undefined;
}

export function planRetention(input: RetentionInput): RetentionPlan {
  const windowStartMs = input.nowMs - input.keepMs;
  const plan: RetentionPlan = {
    windowStart: new Date(windowStartMs).toISOString(),
    floor: undefined,
    keepBackups: [],
    deleteBackups: [],
    deleteChunks: [],
    prunedThrough: new Map(),
    bytes: 0,
  };
  const complete = [...input.manifests].sort(
    (a, b) => a.epoch - b.epoch || compareFilePos({ file: a.binlog.file, pos: a.binlog.pos }, { file: b.binlog.file, pos: b.binlog.pos }) || (a.id < b.id ? -1 : 1),
  );
  if (complete.length === 0) return plan;
  const old = complete.filter((m) => Date.parse(m.consistentAt) <= windowStartMs);
  const floor = old.length > 0 ? old[old.length - 1]! : complete[0]!;
  plan.floor = floor;
  const floorIndex = complete.indexOf(floor);
  for (const [i, m] of complete.entries()) {
    if (i >= floorIndex) plan.keepBackups.push(m.id);
    else plan.deleteBackups.push({ id: m.id, keys: [...(input.keysById.get(m.id) ?? [m.object.key])], reason: `older than the oldest backup the window needs (${floor.id})` });
  }
  const floorStartMs = Date.parse(floor.startedAt);
  for (const inc of input.incomplete) {
    const t = backupIdTimeMs(inc.id);
    if (t !== undefined && t < windowStartMs && t < floorStartMs) {
      plan.deleteBackups.push({ id: inc.id, keys: [...inc.keys], reason: 'incomplete (no manifest) and older than the window' });
    }
  }
  for (const c of input.chunks) {
    const before = c.epoch < floor.epoch || (c.epoch === floor.epoch && compareFilePos({ file: c.file, pos: 0 }, { file: floor.binlog.file, pos: 0 }) < 0);
    if (!before) continue;
    plan.deleteChunks.push(c.key);
    plan.bytes += c.sizeBytes;
    plan.prunedThrough.set(c.epoch, Math.max(plan.prunedThrough.get(c.epoch) ?? 0, c.seq));
  }
  // a chunk is deleted only with every chunk of its epoch before it (the chain stays one piece)
  for (const [epoch, through] of plan.prunedThrough) {
    const kept = input.chunks.filter((c) => c.epoch === epoch && c.seq <= through && !plan.deleteChunks.includes(c.key));
    if (kept.length > 0) plan.prunedThrough.set(epoch, Math.min(...kept.map((c) => c.seq)) - 1);
  }
  plan.deleteChunks = plan.deleteChunks.filter((k) => {
    const c = input.chunks.find((x) => x.key === k)!;
    return c.seq <= (plan.prunedThrough.get(c.epoch) ?? 0);
  });
  for (const [epoch, through] of [...plan.prunedThrough]) if (through <= 0) plan.prunedThrough.delete(epoch);
  plan.deleteChunks.sort();
  plan.bytes = input.chunks.filter((c) => plan.deleteChunks.includes(c.key)).reduce((n, c) => n + c.sizeBytes, 0);
  for (const b of plan.deleteBackups) {
    const m = complete.find((x) => x.id === b.id);
    plan.bytes += m ? m.object.sizeBytes : 0;
  }
  return plan;
}

/** The plan as lines for a terminal. */
export function describeRetention(plan: RetentionPlan): string[] {
  return [
    `window:          from ${plan.windowStart}`,
    `oldest kept:     ${plan.floor ? `${plan.floor.id} (consistent at ${plan.floor.consistentAt}, ${plan.floor.binlog.file}:${plan.floor.binlog.pos})` : 'no complete backup: nothing is deleted'}`,
    `backups kept:    ${plan.keepBackups.length}`,
    `backups deleted: ${plan.deleteBackups.length}${plan.deleteBackups.length ? ` (${plan.deleteBackups.map((b) => b.id).join(', ')})` : ''}`,
    `chunks deleted:  ${plan.deleteChunks.length}`,
    `bytes freed:     ${plan.bytes}`,
  ];
}
