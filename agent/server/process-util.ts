import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** The child is still running (no exit code, no terminating signal seen yet). */
export function isRunning(child: ChildProcess): boolean {
  return child.pid !== undefined && child.exitCode === null && child.signalCode === null;
}

/** Resolves true once the child has exited, false if it is still running after `timeoutMs`. */
export function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (!isRunning(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.removeListener('exit', onExit);
      resolve(false);
    }, timeoutMs);
    const onExit = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

/** Sends `signal`, waits up to `timeoutMs`, then SIGKILLs and waits for the exit. */
export async function terminate(child: ChildProcess, signal: NodeJS.Signals, timeoutMs: number): Promise<void> {
  if (!isRunning(child)) return;
  child.kill(signal);
  if (await waitForExit(child, timeoutMs)) return;
  child.kill('SIGKILL');
  await waitForExit(child, 10_000);
}

/**
 * Calls `probe` every `intervalMs` until it returns a value other than undefined. Gives up
 * (returns undefined) when `abort` returns true (the child died) or after `timeoutMs`.
 */
export async function poll<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  opts: { timeoutMs: number; intervalMs?: number; abort?: () => boolean },
): Promise<T | undefined> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (opts.abort?.() || Date.now() >= deadline) return undefined;
    await sleep(opts.intervalMs ?? 50);
  }
}

/** The last `lines` lines of a text file, or '' when it does not exist. */
export function tailFile(path: string, lines = 30): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return '';
  }
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/**
 * Whether a process with this pid runs: it exists (signal 0 probes without sending anything)
 * and, where /proc tells, is not a zombie. Zombies matter here: in containers whose pid 1 does
 * not reap orphans, a killed server stays a zombie indefinitely.
 */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    return !/^\d+ \(.*\) Z/s.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true; // no /proc: existence is all we know
  }
}
