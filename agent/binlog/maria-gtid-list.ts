/**
 * MariaDB GTID_LIST_EVENT (type 163): the last GTID of every replication domain before this file
 * (written after the FORMAT_DESCRIPTION, or after START_ENCRYPTION). https://mariadb.com/kb/en/gtid_list_event/
 *
 * Body: count u32 (low 28 bits; the top 4 bits are flags), then count x
 * (domain_id u32, server_id u32, seq_no u64).
 */
import { bodyReader, type RawEvent } from './raw-event.js';

const COUNT_MASK = 0x0fffffff;

export interface MariaGtid {
  domainId: number;
  serverId: number;
  seqNo: bigint;
}

export interface MariaGtidListEvent {
  flags: number;
  gtids: MariaGtid[];
}

/** `domain-server-seq`. */
export function formatMariaGtid(g: MariaGtid): string {
  return `${g.domainId}-${g.serverId}-${g.seqNo}`;
}

export function decodeMariaGtidList(ev: RawEvent): MariaGtidListEvent {
  const r = bodyReader(ev);
  const word = r.u32le('count');
  const count = word & COUNT_MASK;
  const gtids: MariaGtid[] = [];
  for (let i = 0; i < count; i++) {
    gtids.push({ domainId: r.u32le('domain id'), serverId: r.u32le('server id'), seqNo: r.u64le('seq_no') });
  }
  return { flags: word >>> 28, gtids };
}
