import { z } from 'zod';
import { basePrefix } from '../keys.js';

/**
 * The manifest of one base backup: `<prefix><clusterId>/base/<backupId>/manifest.json`. It is
 * written last, once the backup's stream is stored and the binlog up to its consistency point is
 * durable; a backup directory without a manifest is incomplete and never used by a restore.
 */
const binlogPosition = z.object({
  /** Binlog file at the consistency point (`mariadb-bin.000042`). */
  file: z.string().min(1),
  /** Offset in that file: replay starts here. */
  pos: z.number().int().min(4),
  /** GTID position of the last transaction inside the backup ('' when none). */
  gtid: z.string(),
});

export const manifestSchema = z.object({
  version: z.literal(1),
  id: z.string().min(1),
  clusterId: z.string().min(1),
  kind: z.enum(['physical', 'logical']),
  /** The cluster's epoch when the backup was taken (the timeline its binlog position is on). */
  epoch: z.number().int().min(1),
  startedAt: z.string(),
  finishedAt: z.string(),
  /**
   * A time at or after the consistency point: every transaction in the backup committed before it.
   * What `time:` targets (restore) and the retention window (prune) compare with. Physical: when
   * mariabackup logged the position it took under BACKUP STAGE BLOCK_COMMIT (near the end); logical:
   * when the dump's snapshot position line reached the agent (near the start; consistency-point.ts).
   */
  consistentAt: z.string(),
  /** When the binlog up to `binlog` was seen durable and the manifest written. */
  completedAt: z.string(),
  binlog: binlogPosition,
  object: z.object({
    key: z.string().min(1),
    /** Bytes stored (compressed). */
    sizeBytes: z.number().int().min(0),
    /** SHA-256 (hex) of the stored bytes. */
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    compression: z.literal('zstd'),
    /** `mbstream` (mariabackup --stream) or `sql` (mariadb-dump). */
    format: z.enum(['mbstream', 'sql']),
    /** Bytes the tool produced, before compression. */
    rawSizeBytes: z.number().int().min(0),
  }),
  server: z.object({ version: z.string(), serverId: z.number().int(), datadir: z.string() }),
  tools: z.record(z.string(), z.string()),
});

export type BackupManifest = z.infer<typeof manifestSchema>;
export type BackupPosition = z.infer<typeof binlogPosition>;

/** Backup ids sort by time: `20260125T123821Z-<kind>`, plus a suffix when two start in one second. */
export function newBackupId(nowMs: number, kind: BackupManifest['kind'], suffix = ''): string {
  const t = new Date(nowMs).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${t}-${kind}${suffix}`;
}

export function backupPrefix(prefix: string, clusterId: string, backupId: string): string {
  return `${basePrefix(prefix, clusterId)}${backupId}/`;
}

export function manifestKey(prefix: string, clusterId: string, backupId: string): string {
  return `${backupPrefix(prefix, clusterId, backupId)}manifest.json`;
}

export function backupDataKey(prefix: string, clusterId: string, backupId: string, kind: BackupManifest['kind']): string {
  return `${backupPrefix(prefix, clusterId, backupId)}${kind === 'physical' ? 'backup.mbstream.zst' : 'dump.sql.zst'}`;
}

/** The backup id of any key under `…/base/<id>/`, or undefined. */
export function backupIdOf(prefix: string, clusterId: string, key: string): string | undefined {
  const base = basePrefix(prefix, clusterId);
  if (!key.startsWith(base)) return undefined;
  const id = key.slice(base.length).split('/')[0];
  return id || undefined;
}

/** Parses and validates a manifest's text; throws with the zod problems. */
export function parseManifest(text: string): BackupManifest {
  return manifestSchema.parse(JSON.parse(text));
}
