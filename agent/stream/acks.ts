/**
 * Lossless mode's bookkeeping: the positions the primary asked a semi-sync reply for, and which of
 * them the durable position covers. A reply tells the primary that a commit is safe, so it goes
 * out only once the chunk holding that commit is stored and the durable position in DynamoDB has
 * moved over it; never for a position past the durable one, and in the order they were asked.
 * Pure: positions in, positions to acknowledge out.
 */
export interface BinlogPoint {
  file: string;
  /** Offset just past an event. */
  end: number;
}

/** The number after the last dot of a binlog file name (`mariadb-bin.000012` → 12), if any. */
function fileNumber(file: string): number | undefined {
  const m = /\.(\d+)$/.exec(file);
  return m ? Number(m[1]) : undefined;
}

/** Orders two points of one server's binlog: by file (its sequence number), then offset. */
export function compareBinlogPoints(a: BinlogPoint, b: BinlogPoint): number {
  if (a.file !== b.file) {
    const an = fileNumber(a.file);
    const bn = fileNumber(b.file);
    if (an !== undefined && bn !== undefined && an !== bn) return an - bn;
    return a.file < b.file ? -1 : 1;
  }
  return a.end - b.end;
}

export class PendingAcks {
  /** Asked for and not yet covered, in binlog order. */
  private pending: BinlogPoint[] = [];

  get size(): number {
    return this.pending.length;
  }

  /** The primary asked for a reply at `point` (an event just read, later than any before it). */
  requested(point: BinlogPoint): void {
    const last = this.pending[this.pending.length - 1];
    if (last && compareBinlogPoints(point, last) <= 0) return; // read again after a reconnect: already waiting
    this.pending.push({ file: point.file, end: point.end });
  }

  /**
   * The durable position moved to `durable`: removes and returns, in order, every point asked for
   * that it covers (at or before it). Points past it stay.
   */
  covered(durable: BinlogPoint): BinlogPoint[] {
    let n = 0;
    while (n < this.pending.length && compareBinlogPoints(this.pending[n]!, durable) <= 0) n++;
    return this.pending.splice(0, n);
  }
}
