import type { SemiSyncReport } from '../cluster/state.js';
import type { PrimarySemiSync } from '../ports/binlog-source.js';

/** What a reading changed, for the log: the operator must hear of every fallback. */
export type SemiSyncChange =
  /** The first reading: the primary commits asynchronously (semi-sync off, or fallen back before the agent came). */
  | 'found-off'
  /** Commits stopped waiting for the agent: acknowledged commits may not be in S3. */
  | 'fell-back'
  /** Commits wait for the agent again. */
  | 'resumed';

/**
 * Lossless mode's view of the primary's semi-sync state, from periodic readings of its status
 * variables. Pure: readings and times in, the report (`squirrel status`, the heartbeat) and the
 * changes to log out.
 */
export class SemiSyncWatch {
  private report: SemiSyncReport;

  constructor(mode: SemiSyncReport['mode'], nowIso: string) {
    this.report = { mode, enabled: false, status: 'unknown', fallbacks: 0, since: nowIso };
  }

  get current(): SemiSyncReport {
    return this.report;
  }

  /**
   * A reading of the primary at `nowIso`. A fallback is seen as the status turning off, or as the
   * primary's fallback count growing between two readings (it fell back and came back between
   * them). A first reading that finds the status off is told apart: a primary that fell back
   * before the agent came (or while it was away) switches back once the agent has caught up.
   */
  observe(primary: PrimarySemiSync, nowIso: string): SemiSyncChange | undefined {
    const before = this.report;
    const status = primary.enabled && primary.active ? 'on' : 'off';
    const grew = before.status !== 'unknown' && primary.fallbacks > before.fallbacks;
    this.report = {
      mode: before.mode,
      enabled: primary.enabled,
      status,
      fallbacks: primary.fallbacks,
      since: status === before.status ? before.since : nowIso,
    };
    if (status === 'off' && before.status === 'unknown') return 'found-off';
    if (status === 'off' && before.status !== 'off') return 'fell-back';
    if (status === 'on' && before.status === 'off') return 'resumed';
    if (grew) return 'fell-back';
    return undefined;
  }
}
