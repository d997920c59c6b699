import { parseMariaGtidList } from '../protocol/gtid.js';

/** Transactions between two GTID positions (per domain, the difference of sequence numbers). */
export function gtidDistance(from: string, to: string): number {
  const a = from ? parseMariaGtidList(from) : [];
  return (to ? parseMariaGtidList(to) : []).reduce((n, t) => n + Math.max(0, t.seqNo - (a.find((g) => g.domainId === t.domainId)?.seqNo ?? 0)), 0);
}
