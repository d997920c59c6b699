import type { Logger } from './log.js';

/**
 * Progress of long work (a backup upload, a restore download, a replay): bytes done, rate,
 * percent and ETA. On a terminal one line on stderr is redrawn in place; otherwise a structured
 * log line is written every `logIntervalMs`, so a log shipper sees the same numbers.
 */
export interface ProgressSnapshot {
  label: string;
  doneBytes: number;
  /** Undefined when the total is not known (no percent, no ETA then). */
  totalBytes: number | undefined;
  elapsedMs: number;
  /** What is counted. @default 'bytes' */
  unit?: 'bytes' | 'transactions';
}

export interface ProgressFigures {
  rateBytesPerSec: number;
  /** 0-100, capped at 99 until done when the total was only an estimate; undefined without a total. */
  percent: number | undefined;
  etaSec: number | undefined;
}

/** The figures of a snapshot. Pure. */
export function progressFigures(s: ProgressSnapshot): ProgressFigures {
  const rateBytesPerSec = s.elapsedMs > 0 ? (s.doneBytes * 1000) / s.elapsedMs : 0;
  if (s.totalBytes === undefined || s.totalBytes <= 0) return { rateBytesPerSec, percent: undefined, etaSec: undefined };
  const percent = Math.min(100, (s.doneBytes * 100) / s.totalBytes);
  const left = Math.max(0, s.totalBytes - s.doneBytes);
  const etaSec = rateBytesPerSec > 0 ? left / rateBytesPerSec : undefined;
  return { rateBytesPerSec, percent, etaSec };
}

const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatBytes(n: number): string {
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

export function formatDuration(sec: number): string {
  const s = Math.round(sec);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${String(r).padStart(2, '0')}` : `${m}:${String(r).padStart(2, '0')}`;
}

/** `backup  12.0 MiB / 48.0 MiB  25%  6.0 MiB/s  ETA 0:06`, or `replay  1200 / 4800 tx  25%  600 tx/s  ETA 0:06`. Pure. */
export function formatProgress(s: ProgressSnapshot): string {
  const f = progressFigures(s);
  const tx = s.unit === 'transactions';
  const count = (n: number) => (tx ? String(Math.round(n)) : formatBytes(n));
  const parts = [s.label, s.totalBytes === undefined ? `${count(s.doneBytes)}${tx ? ' tx' : ''}` : `${count(s.doneBytes)} / ${count(s.totalBytes)}${tx ? ' tx' : ''}`];
  if (f.percent !== undefined) parts.push(`${Math.floor(f.percent)}%`);
  parts.push(tx ? `${Math.round(f.rateBytesPerSec)} tx/s` : `${formatBytes(Math.round(f.rateBytesPerSec))}/s`);
  if (f.etaSec !== undefined) parts.push(`ETA ${formatDuration(f.etaSec)}`);
  return parts.join('  ');
}

export interface ProgressOptions {
  label: string;
  totalBytes?: number;
  /** What is counted (`add`, `set` and the totals are in it). @default 'bytes' */
  unit?: 'bytes' | 'transactions';
  log: Logger;
  /** Where the terminal line goes. @default process.stderr */
  stream?: NodeJS.WriteStream;
  /** @default Date.now */
  now?: () => number;
  /** @default 200 */
  redrawIntervalMs?: number;
  /** @default 5000 */
  logIntervalMs?: number;
}

/** Counts bytes of one piece of long work and reports them as described above. */
export class Progress {
  private doneBytes = 0;
  private readonly startedMs: number;
  private lastReportMs = 0;
  private readonly tty: boolean;
  private readonly stream: NodeJS.WriteStream;
  private readonly now: () => number;
  private finished = false;

  constructor(private readonly opts: ProgressOptions) {
    this.now = opts.now ?? Date.now;
    this.stream = opts.stream ?? process.stderr;
    this.tty = this.stream.isTTY === true;
    this.startedMs = this.now();
  }

  get bytes(): number {
    return this.doneBytes;
  }

  setTotal(totalBytes: number | undefined): void {
    this.opts.totalBytes = totalBytes;
  }

  add(bytes: number): void {
    this.doneBytes += bytes;
    const now = this.now();
    const every = this.tty ? (this.opts.redrawIntervalMs ?? 200) : (this.opts.logIntervalMs ?? 5000);
    if (now - this.lastReportMs >= every) {
      this.lastReportMs = now;
      this.report(false);
    }
  }

  /** Sets the count done so far (for work whose progress is read, not counted: a replica's position). */
  set(done: number): void {
    this.add(done - this.doneBytes);
  }

  /** Reports the final figures (and ends the terminal line). */
  done(): void {
    if (this.finished) return;
    this.finished = true;
    this.report(true);
  }

  private snapshot(): ProgressSnapshot {
    return { label: this.opts.label, doneBytes: this.doneBytes, totalBytes: this.opts.totalBytes, elapsedMs: this.now() - this.startedMs, unit: this.opts.unit ?? 'bytes' };
  }

  private report(final: boolean): void {
    const s = this.snapshot();
    if (this.tty) {
      this.stream.write(`\r\x1b[K${formatProgress(s)}${final ? '\n' : ''}`);
      return;
    }
    const f = progressFigures(s);
    // the same figures, named for what is counted
    const [done, total, rate] = s.unit === 'transactions' ? ['doneTransactions', 'totalTransactions', 'transactionsPerSec'] : ['doneBytes', 'totalBytes', 'rateBytesPerSec'];
    this.opts.log.info(
      {
        progress: s.label,
        [done]: s.doneBytes,
        [total]: s.totalBytes,
        [rate]: Math.round(f.rateBytesPerSec),
        percent: f.percent === undefined ? undefined : Math.round(f.percent * 10) / 10,
        etaSec: f.etaSec === undefined ? undefined : Math.round(f.etaSec),
      },
      final ? `${s.label}: done` : `${s.label}: progress`,
    );
  }
}
