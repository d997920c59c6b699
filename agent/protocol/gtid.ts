/**
 * GTID positions as text, parsed into plain values and formatted back. Pure: no I/O.
 *
 * MariaDB: a GTID is `domain-server-seq`, a position is a comma-separated list with at most one
 * GTID per replication domain (what `@@gtid_binlog_pos` and `@slave_connect_state` hold).
 * https://mariadb.com/kb/en/gtid/
 *
 * MySQL: a GTID set is `uuid:interval[:interval…][,uuid:…]`, an interval `n` or `a-b` (inclusive),
 * what `@@gtid_executed` holds. Stored here as half-open `[start, end)` intervals, the form the
 * COM_BINLOG_DUMP_GTID encoding uses. https://dev.mysql.com/doc/refman/8.0/en/replication-gtids-concepts.html
 */
import { ProtocolError } from '../errors.js';

/** One MariaDB GTID. Sequence numbers are u64 on the wire; kept as numbers, so capped at 2^53. */
export interface MariaGtid {
  domainId: number;
  serverId: number;
  seqNo: number;
}

const U32_MAX = 0xffffffff;

function invalid(what: string, text: string, why: string): ProtocolError {
  return new ProtocolError(`invalid ${what} '${text}': ${why}`, { what });
}

function parseUnsigned(text: string, max: number, what: string, whole: string): number {
  if (!/^\d+$/.test(text)) throw invalid(what, whole, `'${text}' is not an unsigned integer`);
  const v = Number(text);
  if (!Number.isSafeInteger(v) || v > max) throw invalid(what, whole, `${text} is out of range`);
  return v;
}

/** Parses one `domain-server-seq`; errors quote `whole` (the list it came from). */
export function parseMariaGtid(text: string, whole = text): MariaGtid {
  const parts = text.trim().split('-');
  if (parts.length !== 3) throw invalid('MariaDB GTID', whole, `'${text}' is not domain-server-seq`);
  const [d, s, n] = parts as [string, string, string];
  return {
    domainId: parseUnsigned(d, U32_MAX, 'MariaDB GTID', whole),
    serverId: parseUnsigned(s, U32_MAX, 'MariaDB GTID', whole),
    seqNo: parseUnsigned(n, Number.MAX_SAFE_INTEGER, 'MariaDB GTID', whole),
  };
}

export function formatMariaGtid(g: MariaGtid): string {
  return `${g.domainId}-${g.serverId}-${g.seqNo}`;
}

/**
 * Parses a MariaDB GTID position such as `0-1-100,1-2-7`. The empty string is the empty position
 * (start from the beginning of the oldest binlog). A domain may appear only once, as in MariaDB.
 */
export function parseMariaGtidList(text: string): MariaGtid[] {
  if (text.trim() === '') return [];
  const list = text.split(',').map((part) => parseMariaGtid(part, text));
  const seen = new Set<number>();
  for (const g of list) {
    if (seen.has(g.domainId)) throw invalid('MariaDB GTID position', text, `domain ${g.domainId} appears twice`);
    seen.add(g.domainId);
  }
  return list;
}

export function formatMariaGtidList(list: readonly MariaGtid[]): string {
  return list.map(formatMariaGtid).join(',');
}

/**
 * Orders two GTIDs of the same domain by sequence number (negative, zero, positive). GTIDs of
 * different domains are not ordered: that throws, since a caller comparing them has a bug.
 */
export function compareMariaGtid(a: MariaGtid, b: MariaGtid): number {
  if (a.domainId !== b.domainId) {
    throw new ProtocolError(`cannot order GTIDs of different domains: ${formatMariaGtid(a)} and ${formatMariaGtid(b)}`, {
      what: 'GTID comparison',
    });
  }
  return a.seqNo - b.seqNo;
}

/** Whether position `list` includes `gtid`: its domain is there with a sequence number at or past it. */
export function mariaGtidListCovers(list: readonly MariaGtid[], gtid: MariaGtid): boolean {
  const mine = list.find((g) => g.domainId === gtid.domainId);
  return mine !== undefined && mine.seqNo >= gtid.seqNo;
}

/**
 * The position after `gtid` has been applied: its domain's entry replaced (or added, keeping the
 * list ordered by domain). Returns a new list; the input is not changed.
 */
export function advanceMariaGtidList(list: readonly MariaGtid[], gtid: MariaGtid): MariaGtid[] {
  const out = list.filter((g) => g.domainId !== gtid.domainId);
  out.push({ ...gtid });
  return out.sort((a, b) => a.domainId - b.domainId);
}

/** A half-open interval `[start, end)` of MySQL transaction numbers (GNOs), `start >= 1`. */
export interface MysqlGtidInterval {
  start: number;
  end: number;
}

/** The transactions of one source server (its server_uuid, lowercase with dashes). */
export interface MysqlGtidSid {
  sid: string;
  intervals: MysqlGtidInterval[];
}

/** A MySQL GTID set, normalised: sids sorted, intervals sorted and merged. */
export type MysqlGtidSet = MysqlGtidSid[];

const UUID_RE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

function canonicalUuid(text: string, whole: string): string {
  if (!UUID_RE.test(text)) throw invalid('MySQL GTID set', whole, `'${text}' is not a UUID`);
  const hex = text.replace(/-/g, '').toLowerCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function mergeIntervals(intervals: MysqlGtidInterval[]): MysqlGtidInterval[] {
  const sorted = [...intervals].sort((a, b) => a.start - b.start);
  const out: MysqlGtidInterval[] = [];
  for (const iv of sorted) {
    const last = out[out.length - 1];
    if (last && iv.start <= last.end) last.end = Math.max(last.end, iv.end);
    else out.push({ ...iv });
  }
  return out;
}

/**
 * Parses `uuid:1-5:7,uuid2:1-3` (whitespace and newlines around commas allowed, as MySQL prints
 * it). Tagged GTIDs (MySQL 8.4 `uuid:tag:1-5`) are rejected: they need the newer encoding.
 */
export function parseMysqlGtidSet(text: string): MysqlGtidSet {
  const bySid = new Map<string, MysqlGtidInterval[]>();
  for (const raw of text.split(',')) {
    const part = raw.trim();
    if (part === '') continue;
    const [uuidText, ...ranges] = part.split(':');
    const sid = canonicalUuid((uuidText ?? '').trim(), text);
    if (ranges.length === 0) throw invalid('MySQL GTID set', text, `${sid} has no interval`);
    const intervals = bySid.get(sid) ?? [];
    for (const range of ranges) {
      const m = /^\s*(\d+)(?:-(\d+))?\s*$/.exec(range);
      if (!m) throw invalid('MySQL GTID set', text, `'${range}' is not an interval (tagged GTIDs are not supported)`);
      const start = parseUnsigned(m[1] ?? '', Number.MAX_SAFE_INTEGER - 1, 'MySQL GTID set', text);
      const last = m[2] === undefined ? start : parseUnsigned(m[2], Number.MAX_SAFE_INTEGER - 1, 'MySQL GTID set', text);
      if (start < 1 || last < start) throw invalid('MySQL GTID set', text, `interval '${range}' is empty or starts at 0`);
      intervals.push({ start, end: last + 1 });
    }
    bySid.set(sid, intervals);
  }
  return [...bySid.keys()].sort().map((sid) => ({ sid, intervals: mergeIntervals(bySid.get(sid) ?? []) }));
}

/** Formats a set the way MySQL does (`uuid:1-5:7`), sids joined by commas. */
export function formatMysqlGtidSet(set: MysqlGtidSet): string {
  return set
    .map(({ sid, intervals }) =>
      [sid, ...intervals.map((iv) => (iv.end - 1 === iv.start ? `${iv.start}` : `${iv.start}-${iv.end - 1}`))].join(':'),
    )
    .join(',');
}
