import { takeBaseBackup, type BaseBackupDeps } from './backup/base-backup.js';
import { readCatalog } from './backup/catalog.js';
import type { StateStore } from './ports/state-store.js';
import { prune } from './retention/prune.js';
import { whenAborted } from './retry.js';

export interface MaintenanceOptions {
  /** Take a base backup once the newest complete one is this old; undefined: never. */
  backupIntervalMs?: number;
  backupKind: 'physical' | 'logical';
  /** Keep restore targets this far back, pruning what no target in the window needs; undefined: never prune. */
  retentionMs?: number;
  /** How often to prune. */
  pruneIntervalMs: number;
}

/** What a base backup needs, plus the state store a prune reads. */
export interface MaintenanceDeps extends BaseBackupDeps {
  stateStore: StateStore;
}

/**
 * Pure: whether a base backup is due. It counts from the newest complete backup in the object
 * store (not from when this process started), so a restarted agent neither repeats a fresh
 * backup nor forgets an overdue one.
 */
export function backupDue(newestCompletedAtMs: number | undefined, intervalMs: number, nowMs: number): boolean {
  return newestCompletedAtMs === undefined || nowMs - newestCompletedAtMs >= intervalMs;
}

/**
 * The agent's scheduled work beside the stream: base backups and pruning. One task at a time;
 * a failure is logged and retried at the next check, never fatal to the stream.
 */
export class Maintenance {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private lastPruneMs = 0;
  private stopped = false;
  /** Aborted by `stop`: ends a running base backup (the next start takes it again). */
  private readonly stopping = new AbortController();

  constructor(
    private readonly deps: MaintenanceDeps,
    private readonly opts: MaintenanceOptions,
  ) {}

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  /** Starts checking every `checkMs` (default: a tenth of the shortest interval, at most a minute). */
  start(checkMs?: number): void {
    const intervals = [this.opts.backupIntervalMs, this.opts.retentionMs === undefined ? undefined : this.opts.pruneIntervalMs].filter((x): x is number => x !== undefined);
    if (intervals.length === 0) return;
    const every = checkMs ?? Math.max(1000, Math.min(60_000, Math.min(...intervals) / 10));
    this.timer = setInterval(() => {
      this.running ??= this.tick().finally(() => (this.running = undefined));
    }, every);
  }

  /**
   * Stops checking and ends a running base backup (its tool is killed, its partial object deleted);
   * waits for that cleanup, or until `giveUp` aborts (its store requests are then aborted too).
   */
  async stop(giveUp?: AbortSignal): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.stopping.abort();
    await Promise.race([this.running, whenAborted(giveUp)]);
  }

  /** One check: a backup if due, then a prune if due. */
  async tick(): Promise<void> {
    const { log } = this.deps;
    if (this.opts.backupIntervalMs !== undefined && !this.stopped) {
      try {
        const catalog = await readCatalog(this.deps.objects, this.deps.prefix, this.deps.clusterId);
        const newest = catalog.complete[catalog.complete.length - 1];
        if (backupDue(newest ? Date.parse(newest.completedAt) : undefined, this.opts.backupIntervalMs, this.now())) {
          log.info({ kind: this.opts.backupKind, previous: newest?.id ?? null }, 'scheduled base backup starting');
          const m = await takeBaseBackup(this.deps, { kind: this.opts.backupKind, progress: false, signal: this.stopping.signal });
          log.info({ backupId: m.id, storedBytes: m.object.sizeBytes, binlog: m.binlog }, 'scheduled base backup complete');
        }
      } catch (err) {
        if (this.stopped) log.warn({ err: (err as Error).message }, 'scheduled base backup abandoned: the agent is stopping (the next start takes it again)');
        else log.error({ err: (err as Error).message }, 'scheduled base backup failed; retrying at the next check');
      }
    }
    if (this.opts.retentionMs !== undefined && !this.stopped && this.now() - this.lastPruneMs >= this.opts.pruneIntervalMs) {
      try {
        const plan = await prune(this.deps, { keepMs: this.opts.retentionMs, nowMs: this.now() });
        this.lastPruneMs = this.now();
        log.info({ deletedBackups: plan.deleteBackups.length, deletedChunks: plan.deleteChunks.length }, 'scheduled prune done');
      } catch (err) {
        log.error({ err: (err as Error).message }, 'scheduled prune failed; retrying at the next check');
      }
    }
  }
}
