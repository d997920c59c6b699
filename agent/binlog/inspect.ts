/**
 * `inspect`: reads a binlog file end to end and reports what is in it and whether every byte
 * checks out. The walk frames every event, verifies every CRC32, decodes the bodies that carry
 * GTIDs, statements and compressed transactions, and follows transaction boundaries.
 *
 * Verdicts:
 * - framing errors (bad magic, impossible size, the file ending inside an event) stop the walk;
 * - a CRC32 mismatch or a body that does not fit its layout is an error at that event, and the walk
 *   goes on with the framing (sizes) to count the rest, without decoding bodies that failed CRC32;
 * - after MariaDB's START_ENCRYPTION every event is encrypted (type codes and CRCs are noise
 *   without the key): the first such event is reported as an error and the walk stops;
 * - a file that ends inside a transaction is `ok` (every byte is well-formed; servers' test files
 *   do it) with `openTransaction` and a warning.
 * `ok` is false exactly when `error` is set; `error` is the first problem, by offset.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { ProtocolError } from '../errors.js';
import type { ChecksumAlgorithm } from './binlog-format.js';
import { decodeEvent, gtidOf, type DecodedEvent } from './decode.js';
import { EventFlag } from './event-header.js';
import { BinlogParser } from './event-parser.js';
import { EventType, eventTypeName } from './event-types.js';
import type { RawEvent } from './raw-event.js';
import { TransactionTracker, transactionRole } from './transaction.js';
import { decompressPayload, type TransactionPayloadEvent } from './transaction-payload.js';

export interface InspectProblem {
  /** Absolute offset of the event (or byte) that is wrong. */
  offset: number;
  /** The event's type name, when the problem is in one event. */
  event?: string;
  message: string;
}

export interface InspectReport {
  file: string;
  sizeBytes: number;
  ok: boolean;
  error?: InspectProblem;
  warnings: string[];
  /** The first FORMAT_DESCRIPTION's (or START_V3's) server version; null when none was read. */
  serverVersion: string | null;
  /** Every distinct server version in the file (a relay log has the replica's and the source's). */
  serverVersions: string[];
  binlogVersion: number | null;
  checksum: ChecksumAlgorithm;
  /** The FORMAT_DESCRIPTION's in-use flag: the server had not closed the file. */
  inUse: boolean;
  eventCount: number;
  /** Events of the file by type name, in order of first appearance. */
  events: Record<string, number>;
  /** Events inside TRANSACTION_PAYLOAD events, by type name (not included in `events`). */
  innerEvents: Record<string, number>;
  lastEvent: string | null;
  transactions: number;
  firstGtid: string | null;
  lastGtid: string | null;
  /** ISO 8601; events with timestamp 0 (artificial events) are skipped. */
  firstEventTime: string | null;
  lastEventTime: string | null;
  crc32: { checked: number; ok: number; bad: number };
  /** Set when the file ends inside a transaction: where it began. */
  openTransaction: { offset: number } | null;
}

function bump(h: Record<string, number>, name: string): void {
  h[name] = (h[name] ?? 0) + 1;
}

/** A ProtocolError's message without the `(file: what at byte n)` its constructor appends. */
function bareMessage(err: ProtocolError): string {
  const w = err.where;
  const suffix = ` (${w.file ? `${w.file}: ` : ''}${w.what}${w.offset === undefined ? '' : ` at byte ${w.offset}`})`;
  return err.message.endsWith(suffix) ? err.message.slice(0, -suffix.length) : err.message;
}

/**
 * An error as a problem at `offset` (the bad event's start), or at the error's own offset. When
 * the two differ, the message ends with the byte the error was found at.
 */
function problemFrom(err: unknown, fallbackOffset: number, event?: string, offset?: number): InspectProblem {
  const named = event ? { event } : {};
  if (!(err instanceof ProtocolError)) {
    return { offset: offset ?? fallbackOffset, ...named, message: err instanceof Error ? err.message : String(err) };
  }
  const found = err.where.offset ?? fallbackOffset;
  const at = offset ?? found;
  const message = bareMessage(err) + (found !== at ? ` at byte ${found}` : '');
  const typed = /^([A-Z0-9_]+) event$/.exec(err.where.what);
  return { offset: at, ...(event ? named : typed ? { event: typed[1] } : {}), message };
}

/** Walks one binlog fed in chunks of any size. Never throws: problems end up in the report. */
export class Inspector {
  private readonly parser: BinlogParser;
  private readonly tracker = new TransactionTracker();
  private readonly report: InspectReport;
  private stopped = false;
  private encryptionAt: number | undefined;
  private size = 0;

  constructor(file: string) {
    this.parser = new BinlogParser({ onChecksumMismatch: 'report', source: file });
    this.report = {
      file,
      sizeBytes: 0,
      ok: true,
      warnings: [],
      serverVersion: null,
      serverVersions: [],
      binlogVersion: null,
      checksum: 'n/a',
      inUse: false,
      eventCount: 0,
      events: {},
      innerEvents: {},
      lastEvent: null,
      transactions: 0,
      firstGtid: null,
      lastGtid: null,
      firstEventTime: null,
      lastEventTime: null,
      crc32: { checked: 0, ok: 0, bad: 0 },
      openTransaction: null,
    };
  }

  feed(chunk: Buffer): void {
    this.size += chunk.length;
    if (this.stopped) return;
    this.parser.push(chunk);
    for (;;) {
      let ev: RawEvent | undefined;
      try {
        ev = this.parser.next();
      } catch (err) {
        this.fail(problemFrom(err, this.parser.position));
        this.stopped = true;
        return;
      }
      if (!ev) return;
      this.onEvent(ev);
      if (this.stopped) return;
    }
  }

  /** Ends the input and returns the report (call once). */
  finish(): InspectReport {
    const r = this.report;
    r.sizeBytes = this.size;
    if (!this.stopped) {
      try {
        this.parser.end();
      } catch (err) {
        this.fail(problemFrom(err, this.parser.position));
      }
    }
    r.transactions = this.tracker.completed;
    const open = this.tracker.openSince;
    if (open !== undefined && !this.stopped) {
      r.openTransaction = { offset: open };
      r.warnings.push(`file ends inside a transaction that starts at byte ${open}`);
    }
    r.ok = r.error === undefined;
    return r;
  }

  private fail(problem: InspectProblem): void {
    if (!this.report.error) this.report.error = problem;
  }

  private onEvent(ev: RawEvent): void {
    const r = this.report;
    const name = eventTypeName(ev.header.typeCode);
    if (this.encryptionAt !== undefined) {
      this.fail({
        offset: ev.offset,
        message: `events after START_ENCRYPTION (at byte ${this.encryptionAt}) are encrypted and cannot be read without the key`,
      });
      this.stopped = true;
      return;
    }
    r.eventCount++;
    bump(r.events, name);
    r.lastEvent = name;
    if (ev.header.timestamp !== 0) {
      const iso = new Date(ev.header.timestamp * 1000).toISOString();
      r.firstEventTime ??= iso;
      r.lastEventTime = iso;
    }
    const type = ev.header.typeCode;
    if (type === EventType.FORMAT_DESCRIPTION || type === EventType.START_V3) {
      // The parser has read the format from this event already (even when its CRC32 is bad).
      const f = ev.format;
      if (r.serverVersion === null) {
        r.serverVersion = f.serverVersion;
        r.binlogVersion = f.binlogVersion;
        r.checksum = f.checksum;
        r.inUse = type === EventType.FORMAT_DESCRIPTION && (ev.header.flags & EventFlag.BINLOG_IN_USE) !== 0;
      }
      if (!r.serverVersions.includes(f.serverVersion)) r.serverVersions.push(f.serverVersion);
    }
    if (ev.checksum !== 'none') {
      r.crc32.checked++;
      r.crc32[ev.checksum]++;
    }
    if (ev.checksum === 'bad') {
      this.fail({ offset: ev.offset, event: name, message: 'crc32 mismatch' });
      return;
    }
    let decoded: DecodedEvent;
    try {
      decoded = decodeEvent(ev);
    } catch (err) {
      // The event's offset, not the field's, so the report names the bad event; the field's is in the message.
      this.fail(problemFrom(err, ev.offset, name, ev.offset));
      return;
    }
    this.onDecoded(ev, decoded);
  }

  private onDecoded(ev: RawEvent, d: DecodedEvent): void {
    const r = this.report;
    if (ev.header.typeCode === EventType.MARIA_START_ENCRYPTION) this.encryptionAt = ev.offset;
    const gtid = gtidOf(d);
    if (gtid !== undefined) {
      r.firstGtid ??= gtid;
      r.lastGtid = gtid;
    }
    if (d.kind === 'transaction-payload') this.countInner(ev, d.payload);
    const step = this.tracker.step(transactionRole(d), ev.offset);
    if (step.cutOff !== undefined) {
      r.warnings.push(`transaction starting at byte ${step.cutOff} has no end before byte ${ev.offset}`);
    }
  }

  /** Counts the events inside a TRANSACTION_PAYLOAD; a problem there is reported at the outer event. */
  private countInner(ev: RawEvent, payload: TransactionPayloadEvent): void {
    const name = eventTypeName(ev.header.typeCode);
    try {
      const inner = new BinlogParser({ magic: false, format: { ...ev.format, checksum: 'NONE' } });
      for (const e of inner.feed(decompressPayload(ev, payload))) {
        decodeEvent(e);
        bump(this.report.innerEvents, eventTypeName(e.header.typeCode));
      }
      inner.end();
    } catch (err) {
      const p = problemFrom(err, ev.offset, name, ev.offset);
      this.fail({ ...p, message: `inside the payload: ${p.message}` });
    }
  }
}

/** Inspects a binlog held in memory. */
export function inspectBuffer(buf: Buffer, name: string): InspectReport {
  const inspector = new Inspector(name);
  inspector.feed(buf);
  return inspector.finish();
}

/** Inspects a binlog file, streaming it (files can be GiBs). */
export async function inspectFile(path: string): Promise<InspectReport> {
  await stat(path); // a missing file is an error of the command, not a verdict on a binlog
  const inspector = new Inspector(basename(path));
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) {
    inspector.feed(chunk as Buffer);
  }
  return inspector.finish();
}
