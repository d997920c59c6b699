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

/** Collects the consistency point from a dump's lines (either order). */
export class DumpPositionScanner {
  private file: string | undefined;
  private pos: number | undefined;
  private gtid: string | undefined;

  line(text: string): void {
    if (this.file === undefined) {
      const m = dumpFileLine.exec(text);
      if (m) {
        this.file = m[1]!;
        this.pos = Number(m[2]);
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
}
