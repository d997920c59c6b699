import type { AckedCommit } from './pair-writer.js';

/**
 * The judgement of one crash trial, a pure function of what the clients were told and what the
 * restore holds: no partial transaction, nothing beyond the durable position, every known commit
 * within it present, and in lossless mode every acknowledged commit present.
 */
export interface CrashObservation {
  mode: 'lossless' | 'async';
  /** Commits the server acknowledged to a client. */
  acked: readonly AckedCommit[];
  /** The numbers present in each of the two tables of the restored server. */
  restoredA: ReadonlySet<number>;
  restoredB: ReadonlySet<number>;
  /** The restored server's whole GTID position (`@@gtid_binlog_pos`). */
  restoredGtid: string;
  /** The durable position's GTID position, read from the state store after the claim (the handover). */
  durableGtid: string;
}

export interface CrashVerdict {
  /** Acknowledged commits. */
  acked: number;
  /**
   * Acknowledged commits within the durable position, by their GTID. A commit whose client died
   * between COMMIT and reading its GTID is not counted here (see `withoutGtid`).
   */
  durable: number;
  /** Acknowledged commits whose GTID the client could not read (the server died right after COMMIT returned). */
  withoutGtid: number;
  /** Acknowledged commits present in the restored server. */
  restored: number;
  /** Acknowledged commits absent from the restored server. */
  lost: number;
  /** Everything that breaks an invariant, one line each (empty: the trial passed). */
  problems: string[];
}

/** A GTID position as domain -> seq (`0-1-17,1-2-5` → {0: 17, 1: 5}). */
export function gtidPositionMap(position: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const part of position.split(',')) {
    const g = part.trim();
    if (!g) continue;
    const [domain, , seq] = g.split('-');
    out.set(Number(domain), Number(seq));
  }
  return out;
}

/** Whether GTID `domain-server-seq` lies within `position`. */
export function withinPosition(gtid: string, position: ReadonlyMap<number, number>): boolean {
  const [domain, , seq] = gtid.split('-');
  return Number(seq) <= (position.get(Number(domain)) ?? 0);
}

const samePosition = (a: ReadonlyMap<number, number>, b: ReadonlyMap<number, number>): boolean => a.size === b.size && [...a].every(([d, s]) => b.get(d) === s);

/** A few numbers of a list, for a problem line. */
const some = (ns: number[]): string => `${ns.slice(0, 10).join(', ')}${ns.length > 10 ? `, … (${ns.length} in all)` : ''}`;

export function checkCrash(o: CrashObservation): CrashVerdict {
  const problems: string[] = [];
  const durablePos = gtidPositionMap(o.durableGtid);
  const restoredPos = gtidPositionMap(o.restoredGtid);
  if (!samePosition(durablePos, restoredPos)) problems.push(`the restored server's GTID position ${o.restoredGtid || '(empty)'} is not the durable position ${o.durableGtid || '(empty)'}`);

  const halfA = [...o.restoredA].filter((n) => !o.restoredB.has(n));
  const halfB = [...o.restoredB].filter((n) => !o.restoredA.has(n));
  if (halfA.length + halfB.length > 0) problems.push(`partial transactions restored: numbers ${some([...halfA, ...halfB].sort((x, y) => x - y))} are in only one of the two tables`);

  const present = (n: number) => o.restoredA.has(n) && o.restoredB.has(n);
  const missingWithin: number[] = [];
  const beyond: number[] = [];
  const lost: number[] = [];
  let durable = 0;
  for (const c of o.acked) {
    const inside = c.gtid !== undefined && withinPosition(c.gtid, durablePos);
    if (inside) durable++;
    if (!present(c.n)) lost.push(c.n);
    if (c.gtid === undefined) continue;
    if (inside && !present(c.n)) missingWithin.push(c.n);
    if (!inside && (o.restoredA.has(c.n) || o.restoredB.has(c.n))) beyond.push(c.n);
  }
  if (missingWithin.length > 0) problems.push(`commits within the durable position are missing from the restore: numbers ${some(missingWithin)}`);
  if (beyond.length > 0) problems.push(`commits beyond the durable position were restored: numbers ${some(beyond)}`);
  if (o.mode === 'lossless' && lost.length > 0) problems.push(`acknowledged commits lost in lossless mode: numbers ${some(lost)}`);
  return { acked: o.acked.length, durable, withoutGtid: o.acked.filter((c) => c.gtid === undefined).length, restored: o.acked.length - lost.length, lost: lost.length, problems };
}
