/**
 * Decodes the packets of a binlog dump (the answer to COM_BINLOG_DUMP / COM_BINLOG_DUMP_GTID)
 * into events, telling the file's own bytes from events the primary made up for the stream.
 * Pure: one packet payload in, one item out; it keeps the current file and checksum between calls.
 * https://mariadb.com/kb/en/3-binlog-network-stream/ (mariadb-docs replication-protocol/3-binlog-network-stream.md)
 *
 * Each packet is a status byte and then: 0x00 + one whole event; 0xFF + an ERR packet; 0xFE (< 9
 * bytes) the EOF that ends a NON_BLOCK dump. What MariaDB sends (sql/sql_repl.cc, mysql_binlog_send):
 * - for every file it moves to: a fake ROTATE naming the file (timestamp 0, log_pos 0,
 *   LOG_EVENT_ARTIFICIAL_F) and then the file's FORMAT_DESCRIPTION with LOG_EVENT_BINLOG_IN_USE_F
 *   cleared. When the dump starts past offset 4, that FDE is re-sent with log_pos 0 (and created 0,
 *   checksum recomputed): it is not at that position in the file. At offset 4 it is the file's own.
 * - heartbeats (type 27, timestamp 0, flags 0) while idle; log_pos is the current offset.
 * - in GTID mode: the events before the start GTID are skipped (a hole in the file's bytes), then a
 *   fake GTID_LIST (LOG_EVENT_ARTIFICIAL_F, log_pos = where sending resumes) follows the skipped group.
 * So: artificial = ARTIFICIAL flag, or a heartbeat, or log_pos 0. Every other event is bytes of the
 * current file at [log_pos - event_size, log_pos). The real ROTATE at a file's end belongs to the
 * old file; the fake ROTATE that follows names the new one.
 *
 * A file may grow past 4 GiB (a transaction larger than what is left of max_binlog_size is never
 * split), but log_pos is 32 bits and wraps there (mysqlbinlog prints `end_log_pos 3601` after
 * `at 4294970897`). The decoder refuses such an event with BinlogOffsetOverflowError instead of
 * placing it at a wrong offset. Past the last event of the file it saw, an event ends at least
 * `event_size` further on; when that is past 2^32 - 1, or log_pos does not move forward, or log_pos
 * is smaller than the event itself, log_pos has wrapped. An event ending exactly at 2^32 has
 * log_pos 0, which otherwise marks a made-up event: within a file already under way, an event
 * without the ARTIFICIAL flag that is neither a heartbeat nor a re-sent FORMAT_DESCRIPTION is
 * refused too. The dump's start position is 32 bits too,
 * so the first event of a dump is below 4 GiB or has log_pos < event_size.
 *
 * Semi-sync (`semiSync`): after the status byte 0x00 of every event packet come two more bytes,
 * 0xEF and flags; `flags & 0x01` asks for a reply once the event is safe (sql/semisync_master.cc,
 * semisync_slave.cc). They are stripped here; the event says `ackRequested`.
 *
 * Docs vs source: the MariaDB page says the FDE's "Next Pos" is 0 when not starting at the file's
 * beginning "and the GTID is not in use". In GTID mode the server always starts at offset 4, so the
 * FDE keeps its real log_pos; but while the start position is not yet reached it zeroes the FDE's
 * `created` field (and recomputes the CRC), so in the first binlog after a server start that FDE is
 * not the file's bytes. Hence, for a GTID dump from a non-empty position, the first file's FDE is
 * flagged artificial (`firstFormatDescriptionRewritten`). Later files' FDEs are intact: the server
 * picks the first file so that it holds the first event to send in every domain.
 */
import { crc32 } from 'node:zlib';
import { BinlogOffsetOverflowError, ProtocolError } from '../errors.js';
import { EventFlag, HEADER_LENGTH_V4, readEventHeader } from '../binlog/event-header.js';
import { EventType, eventTypeName } from '../binlog/event-types.js';
import { decodeFormatDescription } from '../binlog/format-description.js';
import { SEMI_SYNC_MAGIC } from './commands.js';
import { PacketReader } from './packet-reader.js';
import { isEofPacket, parseErrPacket, ResponseHeader, type ErrPacket } from './server-packets.js';

/** The largest value of the 32-bit log_pos. */
const LOG_POS_MAX = 0xffffffff;

/** Checksum carried by every event of the stream; learnt from @master_binlog_checksum, then each FDE. */
export type StreamChecksum = 'CRC32' | 'NONE';

/** One event of the dump stream, with where it sits in the primary's binlog. */
export interface StreamEvent {
  /** The event's exact bytes: 19-byte header, body, CRC32 when the file has checksums. */
  bytes: Buffer;
  timestamp: number;
  type: number;
  serverId: number;
  eventSize: number;
  /** From the header: end offset of the event in its file; 0 for some artificial events. */
  logPos: number;
  flags: number;
  /** The binlog file the event belongs to (for artificial events: the file being streamed). */
  file: string;
  /** Not bytes of any file: fake ROTATE, heartbeat, fake GTID_LIST, re-sent FORMAT_DESCRIPTION. */
  artificial: boolean;
  /** File offset of the first byte (logPos - eventSize); null when artificial. */
  start: number | null;
  /** File offset just past the event (logPos); null when artificial. */
  end: number | null;
  /** Semi-sync: the primary waits for a reply naming `file` and `logPos` (sent once it is safe). */
  ackRequested?: boolean;
}

/** Semi-sync header flag: the primary asks for a reply to this event. */
export const SEMI_SYNC_ACK_REQUESTED = 0x01;

export type DumpItem = { kind: 'event'; event: StreamEvent } | { kind: 'eof' } | { kind: 'error'; error: ErrPacket };

/** Whether the primary made this event up for the stream (see the file comment). */
export function isArtificialEvent(type: number, flags: number, logPos: number): boolean {
  return (flags & EventFlag.ARTIFICIAL) !== 0 || type === EventType.HEARTBEAT || type === EventType.HEARTBEAT_V2 || logPos === 0;
}

/**
 * Checks an event's trailing CRC32 (over everything before it). For a FORMAT_DESCRIPTION the
 * checksum is computed as if LOG_EVENT_BINLOG_IN_USE_F were clear: the server clears that flag
 * in place when it closes the file, without rewriting the checksum.
 */
export function eventChecksumMatches(bytes: Buffer): boolean {
  if (bytes.length < HEADER_LENGTH_V4 + 4) return false;
  const bodyEnd = bytes.length - 4;
  let covered = bytes.subarray(0, bodyEnd);
  if (bytes[4] === EventType.FORMAT_DESCRIPTION && ((bytes[17] ?? 0) & EventFlag.BINLOG_IN_USE) !== 0) {
    covered = Buffer.from(covered);
    covered[17] = (covered[17] ?? 0) & ~EventFlag.BINLOG_IN_USE;
  }
  return crc32(covered) === bytes.readUInt32LE(bodyEnd);
}

export interface DumpDecoderOptions {
  /**
   * The first FORMAT_DESCRIPTION may have been rewritten by the primary (a GTID dump from a
   * non-empty position): flag it artificial. @default false
   */
  firstFormatDescriptionRewritten?: boolean;
  /** The dump was started with `@rpl_semi_sync_slave=1`: every event packet has the 2-byte header. @default false */
  semiSync?: boolean;
}

export class DumpDecoder {
  private currentFile: string;
  private checksum: StreamChecksum;
  private distrustNextFormatDescription: boolean;
  /** End of the last event of the current file this dump delivered. */
  private fileEnd: number | undefined;
  private readonly semiSync: boolean;

  /**
   * @param file the file asked for ('' in GTID mode: the first fake ROTATE names it)
   * @param checksum the value of @master_binlog_checksum the dump was started with
   */
  constructor(file: string, checksum: StreamChecksum, options: DumpDecoderOptions = {}) {
    this.currentFile = file;
    this.checksum = checksum;
    this.distrustNextFormatDescription = options.firstFormatDescriptionRewritten ?? false;
    this.semiSync = options.semiSync ?? false;
  }

  get file(): string {
    return this.currentFile;
  }

  /** Decodes one dump packet payload. Throws ProtocolError on malformed events or a CRC32 mismatch. */
  decode(payload: Buffer): DumpItem {
    const status = payload[0];
    if (status === ResponseHeader.ERR) return { kind: 'error', error: parseErrPacket(payload) };
    if (isEofPacket(payload)) return { kind: 'eof' };
    if (status !== ResponseHeader.OK) {
      throw new ProtocolError(`unexpected status byte 0x${(status ?? 0).toString(16)} in binlog dump`, {
        what: 'binlog dump packet',
        file: this.currentFile,
      });
    }
    let eventAt = 1;
    let ackRequested = false;
    if (this.semiSync) {
      if (payload.length < 3 || payload[1] !== SEMI_SYNC_MAGIC) {
        throw new ProtocolError(`semi-sync header expected (0xef), got 0x${(payload[1] ?? 0).toString(16)}`, { what: 'binlog dump packet', file: this.currentFile });
      }
      ackRequested = ((payload[2] ?? 0) & SEMI_SYNC_ACK_REQUESTED) !== 0;
      eventAt = 3;
    }
    // A view, not a copy: the payload lies in a buffer Node allocated for one socket read (sized
    // to what was read, never reused), so holding it is safe. The chunker copies each event once,
    // into the chunk's body; copying here too cost a second pass over every byte and its garbage.
    const bytes = payload.subarray(eventAt);
    const h = readEventHeader(bytes, 0);
    const what = `${eventTypeName(h.typeCode)} event (log_pos ${h.logPos})`;
    if (h.eventSize !== bytes.length) {
      throw new ProtocolError(`event_size ${h.eventSize} but the packet holds ${bytes.length} bytes`, { what, file: this.currentFile });
    }
    // MariaDB 11.4+ (binlog_legacy_event_pos=OFF, its default) leaves log_pos 0 on the events inside
    // a transaction group: an unflagged event with log_pos 0 in a file under way continues the file
    // right after the last one. (An event ending exactly at 2^32 also reads 0; continuing the file
    // places it there, and the 4 GiB check below refuses it.)
    const flaggedOrMadeUp = (h.flags & EventFlag.ARTIFICIAL) !== 0 || h.typeCode === EventType.FORMAT_DESCRIPTION || h.typeCode === EventType.HEARTBEAT || h.typeCode === EventType.HEARTBEAT_V2;
    const continues = h.logPos === 0 && !flaggedOrMadeUp && this.fileEnd !== undefined;
    const logPos = continues ? this.fileEnd! + h.eventSize : h.logPos;
    let artificial = !continues && isArtificialEvent(h.typeCode, h.flags, h.logPos);
    if (h.typeCode === EventType.FORMAT_DESCRIPTION) {
      if (this.distrustNextFormatDescription) artificial = true;
      this.distrustNextFormatDescription = false;
      this.checksum = decodeFormatDescription(bytes, artificial ? 0 : h.logPos - h.eventSize).checksum === 'CRC32' ? 'CRC32' : 'NONE';
    }
    if (this.checksum === 'CRC32' && !eventChecksumMatches(bytes)) {
      throw new ProtocolError('event CRC32 mismatch', {
        what,
        file: this.currentFile,
        ...(artificial ? {} : { offset: logPos - h.eventSize }),
      });
    }
    if (!artificial) this.refuseWrappedLogPos(logPos, h.eventSize);
    let file = this.currentFile;
    if (h.typeCode === EventType.ROTATE) {
      const next = this.rotateTarget(bytes, what);
      if (artificial) file = next; // names the file that follows
      this.currentFile = next; // a real ROTATE still belongs to the old file
      this.fileEnd = undefined;
    } else if (!artificial) {
      this.fileEnd = logPos;
    }
    const start = artificial ? null : logPos - h.eventSize;
    if (start !== null && start < 4) {
      throw new ProtocolError(`event would start at offset ${start}, before the 4-byte file header`, { what, file });
    }
    return {
      kind: 'event',
      event: {
        bytes,
        timestamp: h.timestamp,
        type: h.typeCode,
        serverId: h.serverId,
        eventSize: h.eventSize,
        logPos,
        flags: h.flags,
        file,
        artificial,
        start,
        end: artificial ? null : logPos,
        ...(ackRequested ? { ackRequested } : {}),
      },
    };
  }

  /** Throws when a file event's log_pos cannot be its end offset because the file passed 4 GiB. */
  private refuseWrappedLogPos(logPos: number, eventSize: number): void {
    const last = this.fileEnd;
    const wrapped = logPos < eventSize || (last !== undefined && (last + eventSize > LOG_POS_MAX || logPos <= last));
    if (wrapped) throw new BinlogOffsetOverflowError(this.currentFile, last, logPos);
  }

  /** The file named by a ROTATE: u64 position, then the name up to the checksum. */
  private rotateTarget(bytes: Buffer, what: string): string {
    const end = bytes.length - (this.checksum === 'CRC32' ? 4 : 0);
    const r = new PacketReader(bytes, what, 0, HEADER_LENGTH_V4, end);
    r.u64le('position');
    const name = r.rest().toString('utf8');
    if (name === '') throw new ProtocolError('ROTATE names no file', { what, file: this.currentFile });
    return name;
  }
}
