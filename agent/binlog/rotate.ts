/**
 * ROTATE_EVENT (type 4): the last event of a rotated file, naming the next file.
 * https://mariadb.com/kb/en/rotate_event/
 *
 * Post-header: position u64 (absent in binlog v1, whose post-header length is 0).
 * Body: the next file's name, to the end of the event (not NUL-terminated).
 * In a dump stream the primary also sends a fake ROTATE (flag ARTIFICIAL, timestamp 0) first.
 */
import { EventType } from './event-types.js';
import { postHeaderLength } from './binlog-format.js';
import { bodyReader, type RawEvent } from './raw-event.js';

export interface RotateEvent {
  /** Where to start reading the next file (4 in every real binlog). */
  position: bigint;
  nextFile: string;
}

export function decodeRotate(ev: RawEvent): RotateEvent {
  const r = bodyReader(ev);
  const hasPosition = (postHeaderLength(ev.format, EventType.ROTATE) ?? 8) >= 8;
  const position = hasPosition ? r.u64le('position') : 4n;
  return { position, nextFile: r.rest().toString('utf8') };
}
