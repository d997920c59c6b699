/**
 * A server's whole GTID *position*, followed transaction by transaction. Pure: no I/O.
 *
 * Every position squirrel stores or prints is one of these, never a single GTID (DESIGN.md,
 * invariant 7): a stream whose transactions commit in several replication domains has one last
 * GTID per domain, and naming only the newest would lose the others.
 *
 * - MariaDB: the last GTID of every domain, as `@@gtid_binlog_pos` writes it (`0-1-931,7-1-12`,
 *   ordered by domain). A GTID_LIST event (at the head of every binlog file) gives the binlog
 *   state there; a domain may appear in it once per server that wrote it, and the position keeps
 *   the highest sequence number (in strict mode, the most recent).
 * - MySQL: the executed GTID set (`uuid:1-5,uuid2:1-3`); a PREVIOUS_GTIDS event gives the set at
 *   the head of a file. https://dev.mysql.com/doc/refman/8.0/en/replication-gtids-concepts.html
 *
 * The flavour is taken from the first GTID or position seen; mixing them is a bug and throws.
 */
import { ProtocolError } from '../errors.js';
import {
  formatMariaGtid,
  formatMariaGtidList,
  formatMysqlGtidSet,
  parseMariaGtid,
  parseMysqlGtidSet,
  type MariaGtid,
  type MysqlGtidSet,
} from '../protocol/gtid.js';

type Flavour = 'mariadb' | 'mysql';

/** The flavour a GTID or a position is written in, or undefined for the empty string. */
export function gtidFlavour(text: string): Flavour | undefined {
  const t = text.trim();
  if (t === '') return undefined;
  return t.includes(':') ? 'mysql' : 'mariadb';
}

/** Per domain, the entry with the highest sequence number (a GTID_LIST may name a domain once per server). */
export function latestPerDomain(list: readonly MariaGtid[]): MariaGtid[] {
  const out = new Map<number, MariaGtid>();
  for (const g of list) {
    const have = out.get(g.domainId);
    if (!have || g.seqNo > have.seqNo) out.set(g.domainId, { ...g });
  }
  return [...out.values()].sort((a, b) => a.domainId - b.domainId);
}

/** Adds transaction `gno` of `sid` to a MySQL set (a new set; the input is not changed). */
function addToMysqlSet(set: MysqlGtidSet, sid: string, gno: number): MysqlGtidSet {
  const text = formatMysqlGtidSet(set);
  return parseMysqlGtidSet(`${text}${text ? ',' : ''}${sid}:${gno}`);
}

/** A GTID position that moves forward as transactions commit. */
export class GtidPosition {
  private flavour: Flavour | undefined;
  private maria = new Map<number, MariaGtid>();
  private mysql: MysqlGtidSet = [];

  /** Starts at `text` ('' is the empty position). Throws ProtocolError on a malformed position. */
  constructor(text = '') {
    this.merge(text);
  }

  private flavourOf(text: string): Flavour | undefined {
    const f = gtidFlavour(text);
    if (f && this.flavour && f !== this.flavour) {
      throw new ProtocolError(`GTID '${text}' is not of the ${this.flavour} flavour of this position (${this.text})`, { what: 'GTID position' });
    }
    if (f) this.flavour = f;
    return f;
  }

  /** A transaction with this GTID (`d-s-n` or `uuid:n`) committed. */
  apply(gtid: string): void {
    const f = this.flavourOf(gtid);
    if (f === 'mariadb') {
      const g = parseMariaGtid(gtid);
      this.maria.set(g.domainId, g);
    } else if (f === 'mysql') {
      const at = gtid.lastIndexOf(':');
      const gno = Number(gtid.slice(at + 1));
      if (!Number.isSafeInteger(gno) || gno < 1) throw new ProtocolError(`invalid MySQL GTID '${gtid}'`, { what: 'GTID' });
      this.mysql = addToMysqlSet(this.mysql, parseMysqlGtidSet(`${gtid.slice(0, at)}:1`)[0]!.sid, gno);
    }
  }

  /**
   * Takes in a position known to hold at this point (a GTID_LIST, a PREVIOUS_GTIDS set, a stored
   * position): per domain the later entry (MariaDB), the union (MySQL).
   */
  merge(text: string): void {
    const f = this.flavourOf(text);
    if (f === 'mariadb') {
      // a binlog state (GTID_LIST) names a domain once per server: parse entry by entry
      for (const g of latestPerDomain(text.split(',').map((part) => parseMariaGtid(part, text)))) {
        const have = this.maria.get(g.domainId);
        if (!have || g.seqNo > have.seqNo) this.maria.set(g.domainId, g);
      }
    } else if (f === 'mysql') {
      const union = formatMysqlGtidSet(this.mysql);
      this.mysql = parseMysqlGtidSet(`${union}${union ? ',' : ''}${text}`);
    }
  }

  /** The position as the server writes it ('' when empty). */
  get text(): string {
    if (this.flavour === 'mysql') return formatMysqlGtidSet(this.mysql);
    return formatMariaGtidList([...this.maria.values()].sort((a, b) => a.domainId - b.domainId));
  }

  /** MariaDB: the last GTID of each domain, by domain. Empty for MySQL. */
  get domains(): MariaGtid[] {
    return [...this.maria.values()].sort((a, b) => a.domainId - b.domainId);
  }

  clone(): GtidPosition {
    const c = new GtidPosition();
    c.flavour = this.flavour;
    c.maria = new Map(this.maria);
    c.mysql = this.mysql.map((s) => ({ sid: s.sid, intervals: s.intervals.map((i) => ({ ...i })) }));
    return c;
  }
}

/** The position `text` after `gtid` committed (a convenience over GtidPosition). */
export function advancePosition(text: string, gtid: string): string {
  const p = new GtidPosition(text);
  p.apply(gtid);
  return p.text;
}

/** A MariaDB position as one line per domain, for plans and reports: `domain 7: 7-1-12`. */
export function describeDomains(text: string): string[] {
  if (gtidFlavour(text) !== 'mariadb') return [text || '(empty)'];
  return new GtidPosition(text).domains.map((g) => `domain ${g.domainId}: ${formatMariaGtid(g)}`);
}
