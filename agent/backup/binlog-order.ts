import { fileIndex } from '../stream/chain.js';

/** A place in one server's binlog: file and byte offset. */
export interface FilePos {
  file: string;
  pos: number;
}

/**
 * Orders two places in one server's binlog (negative, zero, positive): by file number, then
 * offset. Files of one server share a basename and differ in their numeric suffix.
 */
export function compareFilePos(a: FilePos, b: FilePos): number {
  if (a.file !== b.file) {
    const ia = fileIndex(a.file);
    const ib = fileIndex(b.file);
    if (ia === undefined || ib === undefined) return a.file < b.file ? -1 : 1;
    return ia - ib;
  }
  return a.pos - b.pos;
}
