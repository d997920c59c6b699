import { ProtocolError } from '../errors.js';
import { formatMariaGtidList, parseMariaGtidList, type MariaGtid } from '../protocol/gtid.js';

/**
 * What a restore aims at:
 * - `latest`: every transaction up to the durable position in the state item;
 * - `time:<ISO-8601>`: the longest prefix of the binlog whose transactions committed at or
 *   before that time (binlog timestamps are whole seconds: a commit stamped 12:00:00 is inside
 *   `time:2026-01-01T12:00:00.500Z`);
 * - `gtid:<list>`: up to and including these GTIDs (MariaDB `domain-server-seq`, one per domain),
 *   i.e. the longest prefix holding no transaction of a listed domain with a higher sequence number.
 */
export type RestoreTarget =
  | { kind: 'latest' }
  | { kind: 'time'; at: string; atMs: number }
  | { kind: 'gtid'; gtid: string; list: MariaGtid[] };

export class TargetError extends ProtocolError {}

export function parseTarget(text: string): RestoreTarget {
  const t = text.trim();
  if (t === 'latest') return { kind: 'latest' };
  if (t.startsWith('time:')) {
    const at = t.slice(5);
    // an ISO-8601 date and time; without a zone it would be read as local time: require one
    if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(at)) {
      throw new TargetError(`invalid restore target '${text}': expected time:<ISO-8601 with a zone>, e.g. time:2026-01-25T12:00:00Z`, { what: '--target' });
    }
    const atMs = Date.parse(at);
    if (Number.isNaN(atMs)) throw new TargetError(`invalid restore target '${text}': not a valid time`, { what: '--target' });
    return { kind: 'time', at: new Date(atMs).toISOString(), atMs };
  }
  if (t.startsWith('gtid:')) {
    const list = parseMariaGtidList(t.slice(5));
    if (list.length === 0) throw new TargetError(`invalid restore target '${text}': empty GTID list`, { what: '--target' });
    return { kind: 'gtid', gtid: formatMariaGtidList(list), list };
  }
  throw new TargetError(`invalid restore target '${text}': expected latest, time:<ISO-8601> or gtid:<domain-server-seq,...>`, { what: '--target' });
}

export function formatTarget(t: RestoreTarget): string {
  return t.kind === 'latest' ? 'latest' : t.kind === 'time' ? `time:${t.at}` : `gtid:${t.gtid}`;
}

/** A workflow's target (`"latest"`, `{time}`, `{gtid}`: DESIGN.md, Workflows) as a restore's. */
export function targetFromWorkflow(t: 'latest' | { time: string } | { gtid: string }): RestoreTarget {
  return parseTarget(t === 'latest' ? 'latest' : 'time' in t ? `time:${t.time}` : `gtid:${t.gtid}`);
}
