import { INITIAL_FORMAT, type BinlogFormat } from '../binlog/binlog-format.js';
import { decodeEvent, gtidListOf, gtidOf } from '../binlog/decode.js';
import { EventType } from '../binlog/event-types.js';
import { formatFromDescription } from '../binlog/format-description.js';
import { TransactionTracker, transactionRole } from '../binlog/transaction.js';
import type { StreamEvent } from '../ports/binlog-source.js';
import type { EventClass, EventClassifier } from './streamer.js';

/**
 * Classifies dump-stream events with the binlog layer's transaction rules. It follows the format
 * from each FORMAT_DESCRIPTION (re-sent ones included), so statement text and GTIDs are read
 * with the right post-header lengths and checksum.
 */
export class StreamClassifier implements EventClassifier {
  private format: BinlogFormat = { ...INITIAL_FORMAT, checksum: 'CRC32' };
  private readonly tracker = new TransactionTracker();

  classify(ev: StreamEvent): EventClass {
    const raw = { offset: ev.start ?? 0, header: { timestamp: ev.timestamp, typeCode: ev.type, serverId: ev.serverId, eventSize: ev.eventSize, logPos: ev.logPos, flags: ev.flags }, bytes: ev.bytes, format: this.format, checksum: 'none' as const };
    if (ev.type === EventType.HEARTBEAT || ev.type === EventType.HEARTBEAT_V2) return { boundary: this.tracker.openSince === undefined, endsFile: false };
    const decoded = decodeEvent(raw);
    if (decoded.kind === 'format-description') this.format = formatFromDescription(decoded.fde);
    if (ev.artificial) return { boundary: this.tracker.openSince === undefined, endsFile: false };
    const role = transactionRole(decoded);
    const step = this.tracker.step(role, ev.start ?? 0);
    const gtid = gtidOf(decoded);
    const gtidList = gtidListOf(decoded);
    return { boundary: step.boundary, endsFile: role === 'file-end', ...(gtid ? { gtid } : {}), ...(gtidList !== undefined ? { gtidList } : {}) };
  }
}
