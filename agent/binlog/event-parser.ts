/**
 * Frames a binlog byte stream (a file, or a dump stream's event bytes) into events. Pure: bytes in,
 * events out; partial events are kept between calls, so the result does not depend on how the
 * input was split (the tests split every fixture at every byte).
 *
 * File layout: https://mariadb.com/kb/en/1-binlog-events/ (mariadb-docs
 * replication-protocol/1-binlog-events.md): the 4-byte magic fe 62 69 6e, then events back to back, each
 * `event_size` bytes long (u32 at header offset 9). The first event, FORMAT_DESCRIPTION (v4) or
 * START_V3 (v1/v3), fixes the header length and the checksum algorithm of every later event; a
 * relay log carries a second FORMAT_DESCRIPTION (the source's) that takes over from there.
 *
 * What is checked: the magic, every event's size (at least a header and checksum, at most
 * `maxEventSizeBytes`, before anything is buffered for it), the CRC32 of every event when the
 * format has one, and at `end()` that the input did not stop inside an event.
 * What is left to the caller: event bodies (see decode.ts) and log_pos, which in relay logs and
 * dump streams names the source's positions, not ours.
 */
import { crc32 } from 'node:zlib';
import { ProtocolError } from '../errors.js';
import { CRC32_LENGTH, INITIAL_FORMAT, legacyFormat, type BinlogFormat } from './binlog-format.js';
import {
  EVENT_SIZE_OFFSET,
  EventFlag,
  FLAGS_OFFSET,
  FRAMING_PREFIX_LENGTH,
  HEADER_LENGTH_V4,
  TYPE_CODE_OFFSET,
  readEventHeader,
} from './event-header.js';
import { EventType, eventTypeName } from './event-types.js';
import { decodeFormatDescription, formatFromDescription } from './format-description.js';
import type { ChecksumVerdict, RawEvent } from './raw-event.js';
import { decodeStartV3, startV3HeaderLength } from './start-v3.js';

/** `\xfebin`, the first 4 bytes of every binlog and relay log file. */
export const BINLOG_MAGIC = Buffer.from([0xfe, 0x62, 0x69, 0x6e]);

/**
 * Events above this size are refused before any byte of them is buffered: the server caps events
 * at max_allowed_packet (at most 1 GiB) plus headers.
 */
export const MAX_EVENT_SIZE_BYTES = 1024 * 1024 * 1024 + 64 * 1024;

export interface BinlogParserOptions {
  /** Expect the 4-byte magic before the first event (a file). Default true; false for a dump stream. */
  magic?: boolean;
  /** Absolute offset of the first byte fed, for event offsets and errors. Default 0. */
  startOffset?: number;
  /** The format to read events with until a FORMAT_DESCRIPTION or START_V3 says otherwise. */
  format?: BinlogFormat;
  /**
   * 'throw' (default): a CRC32 mismatch is a ProtocolError. 'report': the event is returned with
   * `checksum: 'bad'` and parsing goes on, so a reader can count bad events (`inspect`).
   */
  onChecksumMismatch?: 'throw' | 'report';
  maxEventSizeBytes?: number;
  /** Names the input (a file name) in errors. */
  source?: string;
}

/**
 * Incremental binlog parser. Either `feed(chunk)` (returns the events completed by it), or `push`
 * and `next()` one event at a time, which leaves events framed before an error in the caller's
 * hands. Events that lie inside one fed chunk share its memory: do not modify fed buffers.
 * After a ProtocolError the parser is failed and every later call throws the same error.
 */
export class BinlogParser {
  /** Fed chunks; those before `first` are consumed. */
  private chunks: Buffer[] = [];
  private first = 0;
  /** Bytes of `chunks[first]` already consumed. */
  private head = 0;
  private buffered = 0;
  private pos: number;
  private magicPending: boolean;
  private current: BinlogFormat;
  private failure: ProtocolError | undefined;
  private readonly report: boolean;
  private readonly maxEventSize: number;
  private readonly source: string | undefined;

  constructor(opts: BinlogParserOptions = {}) {
    this.magicPending = opts.magic ?? true;
    this.pos = opts.startOffset ?? 0;
    this.current = opts.format ?? INITIAL_FORMAT;
    this.report = opts.onChecksumMismatch === 'report';
    this.maxEventSize = opts.maxEventSizeBytes ?? MAX_EVENT_SIZE_BYTES;
    this.source = opts.source;
  }

  /** The format later events will be read with. */
  get format(): BinlogFormat {
    return this.current;
  }

  /** Absolute offset of the next byte to be framed: the end of the last complete event. */
  get position(): number {
    return this.pos;
  }

  /** Bytes received but not yet part of a complete event. */
  get pendingBytes(): number {
    return this.buffered;
  }

  push(chunk: Buffer): void {
    this.throwIfFailed();
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** Pushes `chunk` and returns every event that is now complete. */
  feed(chunk: Buffer): RawEvent[] {
    this.push(chunk);
    const out: RawEvent[] = [];
    for (let ev = this.next(); ev; ev = this.next()) out.push(ev);
    return out;
  }

  /** The next complete event, or undefined until more bytes arrive. */
  next(): RawEvent | undefined {
    this.throwIfFailed();
    try {
      return this.frame();
    } catch (err) {
      if (err instanceof ProtocolError) this.failure = err;
      throw err;
    }
  }

  /** Declares the input complete: throws when it stopped inside the magic or an event. */
  end(): void {
    this.throwIfFailed();
    if (this.magicPending) {
      this.fail(this.buffered === 0 ? 'empty file: no binlog magic' : `file ends inside the magic (${this.buffered} of 4 bytes)`, 'magic');
    }
    if (this.buffered === 0) return;
    if (this.buffered < FRAMING_PREFIX_LENGTH) {
      this.fail(`file ends inside an event header (${this.buffered} of ${HEADER_LENGTH_V4} bytes)`, 'event header');
    }
    const prefix = this.peek(FRAMING_PREFIX_LENGTH);
    const size = prefix.readUInt32LE(EVENT_SIZE_OFFSET);
    const name = eventTypeName(prefix[TYPE_CODE_OFFSET] ?? 0);
    this.fail(`file ends inside a ${size}-byte event (${this.buffered} bytes present)`, `${name} event`);
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }

  private fail(message: string, what: string, offset = this.pos): never {
    const err = new ProtocolError(message, { what, offset, ...(this.source ? { file: this.source } : {}) });
    this.failure = err;
    throw err;
  }

  private frame(): RawEvent | undefined {
    if (this.magicPending) {
      if (this.buffered < BINLOG_MAGIC.length) return undefined;
      const magic = this.take(BINLOG_MAGIC.length);
      if (!magic.equals(BINLOG_MAGIC)) {
        this.fail(`not a binlog: magic is ${magic.toString('hex')}, expected ${BINLOG_MAGIC.toString('hex')}`, 'magic');
      }
      this.magicPending = false;
      this.pos += BINLOG_MAGIC.length;
    }
    if (this.buffered < FRAMING_PREFIX_LENGTH) return undefined;
    // size and type read in place when the first chunk holds the prefix (nearly always), with no view made
    const first = this.chunks[this.first];
    const inPlace = first !== undefined && first.length - this.head >= FRAMING_PREFIX_LENGTH;
    const prefix = inPlace ? first : this.peek(FRAMING_PREFIX_LENGTH);
    const at = inPlace ? this.head : 0;
    const size = prefix.readUInt32LE(at + EVENT_SIZE_OFFSET);
    const type = prefix[at + TYPE_CODE_OFFSET] ?? 0;
    const headerLength = this.headerLengthOf(type, size);
    const minimum = headerLength + (type === EventType.FORMAT_DESCRIPTION || this.current.checksum !== 'CRC32' ? 0 : CRC32_LENGTH);
    if (size < minimum) this.fail(`event size ${size} is below the ${minimum}-byte minimum`, eventWhat(type));
    if (size > this.maxEventSize) this.fail(`event size ${size} exceeds the ${this.maxEventSize}-byte limit`, eventWhat(type));
    if (this.buffered < size) return undefined;

    const offset = this.pos;
    const bytes = this.take(size);
    this.pos += size;
    let format = this.current;
    if (type === EventType.FORMAT_DESCRIPTION) {
      format = formatFromDescription(decodeFormatDescription(bytes, offset));
    } else if (type === EventType.START_V3) {
      const start = decodeStartV3(bytes, offset);
      format = legacyFormat(start.binlogVersion, start.serverVersion);
    }
    const header = readEventHeader(bytes, offset, headerLength);
    let checksum: ChecksumVerdict = 'none';
    if (format.checksum === 'CRC32') {
      const stored = bytes.readUInt32LE(size - CRC32_LENGTH);
      const computed = eventCrc32(bytes, type);
      checksum = stored === computed ? 'ok' : 'bad';
      if (checksum === 'bad' && !this.report) {
        this.fail(`crc32 mismatch: stored ${hex32(stored)}, computed ${hex32(computed)}`, eventWhat(type), offset);
      }
    }
    this.current = format;
    return { offset, header, bytes, format, checksum };
  }

  /** Header length of an event of this type and size under the current format. */
  private headerLengthOf(type: number, size: number): number {
    if (type === EventType.FORMAT_DESCRIPTION) return HEADER_LENGTH_V4;
    if (type === EventType.START_V3) return startV3HeaderLength(size);
    return this.current.headerLength;
  }

  /** The first `n` buffered bytes, without consuming them. */
  private peek(n: number): Buffer {
    const first = this.chunks[this.first];
    if (first && first.length - this.head >= n) return first.subarray(this.head, this.head + n);
    return this.copyOut(n, false);
  }

  /** Consumes the first `n` buffered bytes; a view of the fed chunk when it holds them all. */
  private take(n: number): Buffer {
    const first = this.chunks[this.first];
    let out: Buffer;
    if (first && first.length - this.head >= n) {
      out = first.subarray(this.head, this.head + n);
      if (this.head + n === first.length) this.advanceTo(this.first + 1, 0);
      else this.head += n;
    } else {
      out = this.copyOut(n, true);
    }
    this.buffered -= n;
    return out;
  }

  /** Copies the first `n` buffered bytes (callers check `buffered`), consuming them when `consume`. */
  private copyOut(n: number, consume: boolean): Buffer {
    const out = Buffer.alloc(n);
    let filled = 0;
    let index = this.first;
    let head = this.head;
    while (filled < n) {
      const c = this.chunks[index];
      if (!c) break;
      const part = c.subarray(head, head + n - filled);
      part.copy(out, filled);
      filled += part.length;
      head += part.length;
      if (head === c.length) {
        index++;
        head = 0;
      }
    }
    if (consume) this.advanceTo(index, head);
    return out;
  }

  /**
   * Makes `chunks[index]` at `head` the start of the buffered bytes. Consumed chunks are released
   * and the list compacted now and then, rather than shifted once per chunk (quadratic when an
   * event arrives in many small chunks).
   */
  private advanceTo(index: number, head: number): void {
    if (index >= this.chunks.length) {
      this.chunks = [];
      this.first = 0;
      this.head = 0;
      return;
    }
    this.chunks.fill(EMPTY, this.first, index);
    this.first = index;
    this.head = head;
    if (this.first >= 1024) {
      this.chunks = this.chunks.slice(this.first);
      this.first = 0;
    }
  }
}

const EMPTY = Buffer.alloc(0);

/**
 * The CRC32 of an event, as the server computes it. The server sets the FORMAT_DESCRIPTION's
 * BINLOG_IN_USE flag when it opens a file and clears it in place at close, without recomputing the
 * checksum, so the FDE's CRC32 is always of its bytes with that flag clear (MySQL
 * Log_event_footer::event_checksum_test; not in the protocol docs).
 */
function eventCrc32(bytes: Buffer, type: number): number {
  const covered = bytes.subarray(0, bytes.length - CRC32_LENGTH);
  const flags = bytes.readUInt16LE(FLAGS_OFFSET);
  if (type !== EventType.FORMAT_DESCRIPTION || !(flags & EventFlag.BINLOG_IN_USE)) return crc32(covered) >>> 0;
  const copy = Buffer.from(covered);
  copy.writeUInt16LE(flags & ~EventFlag.BINLOG_IN_USE, FLAGS_OFFSET);
  return crc32(copy) >>> 0;
}

/** How an error names the event it is in; built only on failure, as framing runs once per event. */
function eventWhat(type: number): string {
  return `${eventTypeName(type)} event`;
}

function hex32(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}
