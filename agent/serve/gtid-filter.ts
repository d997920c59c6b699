/**
 * Which events of the binlog a GTID-mode dump sends, as MariaDB's primary decides it
 * (sql/sql_repl.cc: gtid_find_binlog_file, contains_all_slave_gtid, send_event_to_slave,
 * is_until_reached). Pure: one event's facts in, a verdict out.
 *
 * - Start: the dump begins at the newest file whose GTID_LIST says every GTID the replica asked
 *   for is in it or later (`fileHoldsStart`); then event groups are skipped, per domain, up to and
 *   including the replica's GTID. The group that completes it is followed by a fake GTID_LIST, so
 *   the replica learns where it stands.
 * - UNTIL: with `@slave_until_gtid` (START SLAVE UNTIL master_gtid_pos=...), groups of domains not
 *   named are skipped, and after the group that reaches the last named GTID a fake GTID_LIST flagged
 *   UNTIL_REACHED is sent and the dump ends (EOF). A domain the replica's start already covers is
 *   reached from the start.
 * - The fake primary's own `--until` (`stopAt`) is a *point* in the stream (DESIGN.md invariant 7):
 *   just after the named GTIDs. Groups of a named domain past its GTID are skipped; groups of other
 *   domains are sent until the point, so naming fewer domains than the stream holds drops nothing
 *   before it. A domain the start position or a GTID_LIST already covers counts as reached. Past the
 *   point the binlog simply ends: the replica is told nothing and sees heartbeats, as at the end of
 *   a primary's binlog.
 * - A group ends at XID, at COMMIT/ROLLBACK/XA COMMIT/XA ROLLBACK, and at XA_PREPARE (the first
 *   half of an XA transaction is a group of its own, with its own GTID).
 * A file/position dump (no @slave_connect_state) sends every event: `new GtidFilter(null, ...)`.
 */
import { EventType, isRowsEvent } from '../binlog/event-types.js';
import { advanceMariaGtidList, formatMariaGtid, type MariaGtid } from '../protocol/gtid.js';

/** Events the server counts as part of the statement that follows (Log_event::is_part_of_group). */
const partOfGroupTypes: ReadonlySet<number> = new Set([
  EventType.BEGIN_LOAD_QUERY,
  EventType.APPEND_BLOCK,
  EventType.TABLE_MAP,
  EventType.MARIA_ANNOTATE_ROWS,
  EventType.INTVAR,
  EventType.RAND,
  EventType.USER_VAR,
  EventType.ROWS_QUERY,
]);

export function isPartOfGroup(type: number): boolean {
  return partOfGroupTypes.has(type) || isRowsEvent(type);
}

/** The facts about one binlog event the filter needs. */
export interface FilterEvent {
  type: number;
  /** For GTID events. */
  gtid?: MariaGtid;
  /** For GTID events: FL_STANDALONE (the group is the next statement, no COMMIT). */
  standalone?: boolean;
  /** XID, XA_PREPARE, or a QUERY that is COMMIT, ROLLBACK, XA COMMIT or XA ROLLBACK: the end of a transaction group. */
  commits?: boolean;
  /** For GTID_LIST events: the list. */
  gtidList?: MariaGtid[];
}

export interface FilterVerdict {
  send: boolean;
  /** Send a fake GTID_LIST with this binlog state after the event. */
  fakeGtidListAfter?: MariaGtid[];
  /** The replica's UNTIL position is reached: send a fake GTID_LIST (UNTIL_REACHED) with this state, then EOF. */
  untilReachedAfter?: MariaGtid[];
  /** The fake primary's own stop position is reached: the binlog ends after this event. */
  stopAfter?: boolean;
}

/** 'to-gtid': the rest of a group that began in chunks jumped over, up to the next GTID event. */
type Skip = 'not' | 'standalone' | 'transaction' | 'to-gtid';
/**
 * Where a stop position stands: not reached; reached by the GTID of a group that ends after its
 * statement (standalone) or at its commit; or reached before any group of the stream was sent (the
 * start, or a file's GTID_LIST, already holds it), so nothing more is sent.
 */
type UntilGroup = 'not-done' | 'after-standalone' | 'after-transaction' | 'reached';

/** A GTID that the start position names but no binlog holds. */
export class StartGtidMissing {
  constructor(readonly gtid: MariaGtid) {}
  get message(): string {
    return `connecting slave requested to start from GTID ${formatMariaGtid(this.gtid)}, which is not in the master's binlog`;
  }
}

/**
 * Whether a file whose GTID_LIST is `list` holds the first event to send for every domain of
 * `start` (contains_all_slave_gtid): no domain of the list is missing from the start position,
 * and no start GTID lies before the list's entry (equal is fine: the file begins right after it).
 */
export function fileHoldsStart(start: readonly MariaGtid[], list: readonly MariaGtid[]): boolean {
  for (let i = 0; i < list.length; i++) {
    const g = list[i]!;
    const s = start.find((x) => x.domainId === g.domainId);
    if (!s) return false;
    if (s.serverId === g.serverId && s.seqNo <= g.seqNo) {
      if (s.seqNo < g.seqNo) return false;
      if (i + 1 < list.length && list[i + 1]!.domainId === g.domainId) return false;
    }
  }
  return true;
}

/** The start position left to skip to once the dump begins at a file with this GTID_LIST. */
export function startAfterFile(start: readonly MariaGtid[], list: readonly MariaGtid[]): MariaGtid[] {
  return start.filter((s) => !list.some((g) => g.domainId === s.domainId && g.serverId === s.serverId && g.seqNo === s.seqNo));
}

/**
 * How a stop position treats the domains it does not name: a replica's UNTIL skips them (MariaDB's
 * rule); the fake primary's own stop position is a point in the stream and sends them until it.
 */
type UntilKind = 'replica' | 'point';

class UntilState {
  private readonly pending: Map<number, MariaGtid>;
  private readonly named: Map<number, MariaGtid>;
  group: UntilGroup = 'not-done';

  constructor(
    until: readonly MariaGtid[],
    private readonly kind: UntilKind,
    reachedAt: readonly MariaGtid[] = [],
  ) {
    this.named = new Map(until.map((g) => [g.domainId, g]));
    this.pending = new Map(until.map((g) => [g.domainId, g]));
    this.covered(reachedAt);
  }

  /** The named GTIDs not reached yet. */
  get unreached(): MariaGtid[] {
    return [...this.pending.values()];
  }

  /** Domains a known position (the start, a GTID_LIST) already holds are reached. */
  covered(position: readonly MariaGtid[]): void {
    for (const g of position) {
      const u = this.pending.get(g.domainId);
      if (u && g.seqNo >= u.seqNo) this.pending.delete(g.domainId);
    }
    if (this.pending.size === 0 && this.group === 'not-done') this.group = 'reached';
  }

  /** Sees a GTID event; returns true when its group must be skipped. */
  onGtid(gtid: MariaGtid, standalone: boolean): boolean {
    const u = this.pending.get(gtid.domainId);
    if (!u) {
      // a replica's UNTIL skips a domain that is done or not named; a point sends the domains it
      // does not name, and skips only a named domain past its GTID
      if (this.kind === 'replica') return true;
      const n = this.named.get(gtid.domainId);
      return n !== undefined && gtid.seqNo > n.seqNo;
    }
    if (gtid.seqNo >= u.seqNo && (this.kind === 'point' || gtid.serverId === u.serverId)) {
      this.pending.delete(gtid.domainId);
      if (this.pending.size === 0) this.group = standalone ? 'after-standalone' : 'after-transaction';
      return gtid.seqNo > u.seqNo; // the stop GTID itself is missing: this group is already past it
    }
    return false;
  }

  /** Whether the stop position is reached after this event. */
  reachedAfter(ev: FilterEvent): boolean {
    if (this.group === 'not-done') return false;
    if (this.group === 'reached') return true;
    // the GTID event that reached the position begins its group: the group's statement follows it
    if (this.group === 'after-standalone') return ev.type !== EventType.MARIA_GTID && !isPartOfGroup(ev.type);
    return ev.type === EventType.XID || ev.commits === true;
  }
}

export class GtidFilter {
  private readonly gtidMode: boolean;
  private readonly start: Map<number, MariaGtid>;
  private readonly seenDomains = new Set<number>();
  private readonly until: UntilState | undefined;
  private readonly stopAt: UntilState | undefined;
  private skip: Skip = 'not';
  private sendFakeGtidList = false;
  private binlogState: MariaGtid[] = [];

  /**
   * @param start what the replica asked to start after (already reduced by startAfterFile); null: file/position dump
   * @param until the replica's @slave_until_gtid, if any
   * @param stopAt the fake primary's own end position, if any
   */
  constructor(start: readonly MariaGtid[] | null, until?: readonly MariaGtid[], stopAt?: readonly MariaGtid[], connectState: readonly MariaGtid[] = start ?? []) {
    this.gtidMode = start !== null;
    this.start = new Map((start ?? []).map((g) => [g.domainId, g]));
    this.until = this.gtidMode && until ? new UntilState(until, 'replica', connectState) : undefined;
    this.stopAt = stopAt ? new UntilState(stopAt, 'point', connectState) : undefined;
  }

  /** Whether the start position has been passed in every domain. */
  get startReached(): boolean {
    return this.start.size === 0;
  }

  /** Called when the stream reaches the end of what can be sent: a start GTID never seen is an error. */
  missingStart(): StartGtidMissing | undefined {
    for (const g of this.start.values()) if (this.seenDomains.has(g.domainId)) return new StartGtidMissing(g);
    return undefined;
  }

  /** The fake primary's stop GTIDs not reached yet (empty when reached or when there is none). */
  get stopUnreached(): MariaGtid[] {
    return this.stopAt?.unreached ?? [];
  }

  /** The UNTIL condition (replica's) holds before any event: send the FORMAT_DESCRIPTION, then stop. */
  get untilAlreadyReached(): boolean {
    return this.until?.group === 'reached';
  }

  step(ev: FilterEvent): FilterVerdict {
    if (this.gtidMode && ev.type === EventType.MARIA_GTID_LIST && this.until && ev.gtidList) this.binlogState = [...ev.gtidList];
    // the binlog state at a file's head: a stop point it already holds is behind us
    if (ev.type === EventType.MARIA_GTID_LIST && ev.gtidList && this.stopAt?.group === 'not-done') this.stopAt.covered(ev.gtidList);
    // the stop point lies before this event: the binlog ends here, this event unsent
    if (this.stopAt?.group === 'reached') return { send: false, stopAfter: true };
    if (this.skip === 'to-gtid' && ev.type === EventType.MARIA_GTID) this.skip = 'not';
    if (ev.type === EventType.MARIA_GTID && ev.gtid) this.onGtid(ev.gtid, ev.standalone ?? false);

    let send = true;
    if (this.skip === 'to-gtid') {
      send = false;
    } else if (this.skip === 'standalone') {
      // the group is the GTID event, then one statement (with the events that belong to it): the
      // skip ends after that statement, not at the GTID event that began it
      if (ev.type !== EventType.MARIA_GTID && !isPartOfGroup(ev.type)) this.skip = 'not';
      send = false;
    } else if (this.skip === 'transaction') {
      if (ev.type === EventType.XID || ev.commits) this.skip = 'not';
      send = false;
    }
    const verdict: FilterVerdict = { send };
    if (this.sendFakeGtidList && this.skip === 'not') {
      verdict.fakeGtidListAfter = [...this.binlogState];
      this.sendFakeGtidList = false;
    }
    if (this.until?.reachedAfter(ev)) verdict.untilReachedAfter = [...this.binlogState];
    if (this.stopAt?.reachedAfter(ev)) verdict.stopAfter = true;
    return verdict;
  }

  /**
   * The dump jumped over chunks of the start file whose every group the start position holds (the
   * chunks end at `at`, which the replica's start covers in every domain): their groups count as
   * seen and skipped, and the events before the next GTID event (the end of a group begun in them)
   * are skipped too. Returns the binlog state for a fake GTID_LIST to send now when the jump
   * completed the start position (as after the start group itself), else undefined.
   */
  jumpedOver(at: readonly MariaGtid[]): MariaGtid[] | undefined {
    let completed = false;
    for (const g of at) {
      this.seenDomains.add(g.domainId);
      this.binlogState = advanceMariaGtidList(this.binlogState, g);
      const s = this.start.get(g.domainId);
      if (s && g.serverId === s.serverId && g.seqNo >= s.seqNo) {
        this.start.delete(g.domainId);
        completed = true;
      }
    }
    this.skip = 'to-gtid';
    return completed ? [...this.binlogState] : undefined;
  }

  private onGtid(gtid: MariaGtid, standalone: boolean): void {
    const groupSkip: Skip = standalone ? 'standalone' : 'transaction';
    if (this.stopAt?.onGtid(gtid, standalone)) this.skip = groupSkip;
    if (!this.gtidMode) return;
    this.seenDomains.add(gtid.domainId);
    if (this.start.size > 0 || this.until) this.binlogState = advanceMariaGtidList(this.binlogState, gtid);
    const s = this.start.get(gtid.domainId);
    if (s) {
      if (gtid.serverId !== s.serverId || gtid.seqNo <= s.seqNo) this.skip = groupSkip;
      if (gtid.serverId === s.serverId && gtid.seqNo >= s.seqNo) {
        this.sendFakeGtidList = true;
        this.start.delete(gtid.domainId);
      }
    }
    if (this.until?.onGtid(gtid, standalone)) this.skip = groupSkip;
  }
}
