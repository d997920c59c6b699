import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname } from 'node:path';

/**
 * Runs a command to its end without blocking the event loop, and returns its stdout trimmed. An
 * in-process agent keeps renewing its lease meanwhile: a synchronous run of a 20 s load would
 * starve its heartbeat, and the agent would (rightly) fence its own server.
 */
export async function run(cmd: string, argv: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(cmd, argv, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  return stdout.trim();
}

/**
 * sysbench `oltp_write_only` against a local server, through its socket as root, in the database
 * `sbtest`; returns its stdout. `extra` goes before the command (threads, time, events).
 */
export function sysbench(server: { socket: string; rootPassword: string }, command: 'prepare' | 'run', shape: { tables: number; tableSize: number }, extra: string[] = []): Promise<string> {
  return run('sysbench', [
    'oltp_write_only',
    `--tables=${shape.tables}`,
    `--table-size=${shape.tableSize}`,
    `--mysql-socket=${server.socket}`,
    '--mysql-user=root',
    `--mysql-password=${server.rootPassword}`,
    '--mysql-db=sbtest',
    ...extra,
    command,
  ]);
}

/** Median of a list of numbers. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The p-th percentile (0-100), nearest rank. */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** Peak resident set size of a process so far (VmHWM), MiB. */
export function peakRssMiB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** CPU seconds (user + system) a process has used so far, from /proc; NaN once it has gone. */
export function cpuSecondsOf(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return NaN;
  }
}

/** CPU seconds every process on the machine has used so far (kernel threads included), by pid, from /proc. */
export function cpuByProcess(): Map<number, { name: string; seconds: number }> {
  const out = new Map<number, { name: string; seconds: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
      out.set(Number(entry), { name, seconds: (Number(fields[11]) + Number(fields[12])) / 100 });
    } catch {
      // the process ended while the list was read
    }
  }
  return out;
}

/**
 * What the machine's CPU went to between two `cpuByProcess` snapshots: the total, and the
 * processes that used the most (a process started in between counts whole).
 */
export function cpuBetween(before: Map<number, { name: string; seconds: number }>, after: Map<number, { name: string; seconds: number }>, top = 5): { totalSeconds: number; top: string[] } {
  const used = [...after].map(([pid, p]) => ({ pid, name: p.name, seconds: p.seconds - (before.get(pid)?.seconds ?? 0) })).filter((p) => p.seconds > 0);
  used.sort((a, b) => b.seconds - a.seconds);
  const round = (n: number) => Math.round(n * 10) / 10;
  return { totalSeconds: round(used.reduce((sum, p) => sum + p.seconds, 0)), top: used.slice(0, top).map((p) => `${p.name}[${p.pid}] ${round(p.seconds)}`) };
}

export function machine(): Record<string, unknown> {
  const version = (cmd: string, args: string[]) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8' }).trim().split('\n')[0];
    } catch {
      return 'unknown';
    }
  };
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    mariadb: version('mariadbd', ['--version']),
    date: new Date().toISOString(),
  };
}

export function writeResults(name: string, results: unknown): string {
  const path = new URL(`../../bench/results/${name}.json`, import.meta.url).pathname;
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(results, null, 2)}\n`);
  return path;
}

export const say = (line = '') => process.stdout.write(`${line}\n`);
