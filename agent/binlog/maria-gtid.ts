/**
 * MariaDB GTID_EVENT (type 162): starts an event group (a transaction, or one DDL statement).
 * https://mariadb.com/kb/en/gtid_event/ (mariadb-docs: replication-protocol/gtid_event.md)
 *
 * Body: seq_no u64, domain_id u32, flags u8, then
 *   FL_GROUP_COMMIT_ID: commit_id u64;
 *   else FL_PREPARED_XA | FL_COMPLETED_XA: format_id u32, gtrid_len u8, bqual_len u8, xid data;
 *   else 6 zero bytes.
 * Newer servers (10.5+) append flags_extra and more; they are not needed here and not read.
 * The server id of the GTID is the event header's server_id.
 * Where the docs are wrong: they make the three branches exclusive. The server's reader
 * (Gtid_log_event's constructor, sql/log_event.cc) reads commit_id and then the XA xid when both
 * flags are set, and skips no padding before an xid; we follow the server.
 */
import { ProtocolError } from '../errors.js';
import { bodyReader, describeEvent, type RawEvent } from './raw-event.js';

/** GTID_EVENT flags (Gtid_log_event::FL_* in MariaDB sql/log_event.h). */
export const MariaGtidFlag = {
  /** The group is one statement with no terminating COMMIT/XID (DDL). */
  STANDALONE: 0x01,
  /** commit_id follows: the group was part of a group commit. */
  GROUP_COMMIT_ID: 0x02,
  /** The group can be rolled back safely (transactional engines only). */
  TRANSACTIONAL: 0x04,
  /** The group may be applied in parallel with others. */
  ALLOW_PARALLEL: 0x08,
  /** The transaction waited for a row lock on the primary. */
  WAITED: 0x10,
  /** The group is DDL. */
  DDL: 0x20,
  /** The group is an XA PREPARE; the XID follows. */
  PREPARED_XA: 0x40,
  /** The group is an XA COMMIT or XA ROLLBACK; the XID follows. */
  COMPLETED_XA: 0x80,
} as const;

/** XIDDATASIZE: gtrid and bqual are at most 64 bytes each. */
const MAX_XID_PART = 64;

export interface MariaGtidEvent {
  domainId: number;
  serverId: number;
  seqNo: bigint;
  flags: number;
  /** True when the group is the next event alone, without COMMIT or XID. */
  standalone: boolean;
  commitId?: bigint;
  /** `domain-server-seq`, as in @@gtid_binlog_pos. */
  gtid: string;
}

export function decodeMariaGtid(ev: RawEvent): MariaGtidEvent {
  const r = bodyReader(ev);
  const seqNo = r.u64le('seq_no');
  const domainId = r.u32le('domain id');
  const flags = r.u8('flags');
  const serverId = ev.header.serverId;
  const out: MariaGtidEvent = {
    domainId,
    serverId,
    seqNo,
    flags,
    standalone: (flags & MariaGtidFlag.STANDALONE) !== 0,
    gtid: `${domainId}-${serverId}-${seqNo}`,
  };
  if (flags & MariaGtidFlag.GROUP_COMMIT_ID) out.commitId = r.u64le('commit id');
  if (flags & (MariaGtidFlag.PREPARED_XA | MariaGtidFlag.COMPLETED_XA)) {
    r.u32le('xid format id');
    const at = r.offset;
    const gtridLength = r.u8('xid gtrid length');
    const bqualLength = r.u8('xid bqual length');
    if (gtridLength > MAX_XID_PART || bqualLength > MAX_XID_PART) {
      throw new ProtocolError(`xid parts of ${gtridLength} and ${bqualLength} bytes exceed ${MAX_XID_PART}`, {
        what: describeEvent(ev),
        offset: ev.offset + at,
      });
    }
    r.skip(gtridLength + bqualLength, 'xid data');
  } else if (!(flags & MariaGtidFlag.GROUP_COMMIT_ID)) {
    r.skip(6, 'padding');
  }
  return out;
}
