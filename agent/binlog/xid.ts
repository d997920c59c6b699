/**
 * XID_EVENT (type 16): the commit of a transaction on an XA-capable engine (InnoDB); ends the group.
 * https://mariadb.com/kb/en/xid_event/
 *
 * Body: xid u64, the transaction's id in the engine's internal XA.
 */
import { bodyReader, type RawEvent } from './raw-event.js';

export interface XidEvent {
  xid: bigint;
}

export function decodeXid(ev: RawEvent): XidEvent {
  return { xid: bodyReader(ev).u64le('xid') };
}
