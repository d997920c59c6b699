import type { BackupPosition } from './manifest.js';

/**
 * Where a backup is consistent, read from the backup tool's own output. Pure: one line in, a
 * position (or nothing) out.
 *
 * mariabackup logs, after it has taken the binlog position under BACKUP STAGE BLOCK_COMMIT
 * (the same values it streams as `xtrabackup_binlog_info`):
 *   `[00] 2026-11-25 12:38:21 MySQL binlog position: filename 'mariadb-bin.000002', position '344', GTID of the last change '0-1-57'`
 *
 * mariadb-dump `--master-data=2 --gtid` writes, inside the dump (as comments):
 *   `-- CHANGE MASTER TO MASTER_LOG_FILE='mariadb-bin.000003', MASTER_LOG_POS=615;`  (near the top)
 *   `-- SET GLOBAL gtid_slave_pos='0-1-61';`                                         (near the end)
 */
const mariabackupLine = /binlog position: filename '([^']+)', position '(\d+)'(?:, GTID of the last change '([^']*)')?/;

export function parseMariabackupLine(line: string): BackupPosition | undefined {
  const m = mariabackupLine.exec(line);
  if (!m) return undefined;
  return { file: m[1]!, pos: Number(m[2]), gtid: m[3] ?? '' };
}

const dumpFileLine = /^-- CHANGE MASTER TO MASTER_LOG_FILE='([^']+)', MASTER_LOG_POS=(\d+);/;
const dumpGtidLine = /^-- SET GLOBAL gtid_slave_pos='([^']*)';/;

/**
 * Collects the consistency point from a dump's lines (either order), and *when* it was fixed.
 *
 * Which position: with `--single-transaction --master-data`, mariadb-dump (MariaDB 10.11) takes
 * no FLUSH TABLES WITH READ LOCK: it runs `START TRANSACTION WITH CONSISTENT SNAPSHOT`, then reads
 * `Binlog_snapshot_file`/`Binlog_snapshot_position` (the binlog offset of that very snapshot; the
 * server takes both under its commit-order lock) and `BINLOG_GTID_POS()` of that offset. So the
 * position and GTID are the snapshot's, however many commits run meanwhile (checked by
 * test/agent/backup/logical.test.ts under concurrent writers).
 *
 * When (`consistentMs`): the time the `CHANGE MASTER TO MASTER_LOG_FILE=…` line reached us. That
 * line carries the snapshot's position, so the dump printed it after the snapshot was taken: every
 * transaction in the dump committed before this time, and a `time:` target before it never picks
 * the backup (restore/plan.ts `backupEligible`; prune's floor). It arrives a few milliseconds after
 * the snapshot: the dump's stdout is block-buffered, so at most one buffer (4 KiB) of output later.
 * Rejected: the command's start time (before the snapshot: a target in between picked a backup
 * holding later commits); the binlog timestamp of the last transaction before the position (whole
 * seconds of the statement's *start*, so it can lie before the commit, and not the largest one);
 * the server's NOW() under the dump's snapshot (mariadb-dump runs no statement of ours). The clock
 * is this process's (`now`), the same host as the server when the agent runs on the primary.
 * The `gtid_slave_pos` line comes at the end of the dump: its arrival time means nothing.
 *
 * Pure: each line comes with the time it was read.
 */
export class DumpPositionScanner {
  private file: string | undefined;
  private pos: number | undefined;
  private gtid: string | undefined;
  private seenMs: number | undefined;

  line(text: string, atMs: number): void {
    if (this.file === undefined) {
      const m = dumpFileLine.exec(text);
      if (m) {
        this.file = m[1]!;
        this.pos = Number(m[2]);
        this.seenMs = atMs;
        return;
      }
    }
    if (this.gtid === undefined) {
      const g = dumpGtidLine.exec(text);
      if (g) this.gtid = g[1]!;
    }
  }

  /** The position once the file and offset were seen; the GTID is '' if the dump did not print one. */
  get position(): BackupPosition | undefined {
    return this.file === undefined ? undefined : { file: this.file, pos: this.pos!, gtid: this.gtid ?? '' };
  }

  /** When the position line was read: at or after the snapshot (see the class comment); undefined before. */
  get consistentMs(): number | undefined {
    return this.seenMs;
  }
}
