import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The agent's lock in its state directory: which process streams for this server, and with which
 * lease token. A restarted agent learns from it whether its predecessor is known dead (its pid is
 * gone), and so whether it may take the predecessor's lease at once; while the predecessor lives,
 * a second agent on the same server holds nothing and waits.
 *
 * The lock is never removed: a stopped agent's pid is dead, which is what its successor needs to
 * know. A reused pid only makes a successor wait for the lease's expiry, the safe direction.
 */
export interface LockHolder {
  pid: number;
  token: string;
  /** ISO time it was taken. */
  at: string;
}

export type LockOutcome =
  /** Taken. `predecessor`: the token of the process that held it and is known dead, if any. */
  | { taken: true; predecessor?: string }
  /** Another live process holds it. */
  | { taken: false; holder: LockHolder };

/** True when a process with this pid exists (signal 0 checks without sending anything). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, it is just not ours to signal
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class ProcessLock {
  private readonly path: string;

  constructor(
    readonly dir: string,
    private readonly token: string,
    private readonly pid: number = process.pid,
  ) {
    this.path = join(dir, 'agent.lock');
  }

  private async read(): Promise<LockHolder | undefined> {
    try {
      const parsed = JSON.parse(await readFile(this.path, 'utf8')) as Partial<LockHolder>;
      return typeof parsed.pid === 'number' && typeof parsed.token === 'string' ? (parsed as LockHolder) : undefined;
    } catch {
      return undefined; // absent, or torn by a crash mid-write: nobody known holds it
    }
  }

  /**
   * Takes the lock unless a live process holds it. A lock left by a dead process is taken over,
   * and its token returned as the predecessor's. Not atomic against two agents starting in the
   * same instant: the lease (one token) settles that race; the lock only tells who is dead.
   */
  async take(): Promise<LockOutcome> {
    await mkdir(this.dir, { recursive: true });
    const before = await this.read();
    if (before && before.pid !== this.pid && alive(before.pid)) return { taken: false, holder: before };
    const mine: LockHolder = { pid: this.pid, token: this.token, at: new Date().toISOString() };
    const tmp = `${this.path}.${this.pid}`;
    await writeFile(tmp, JSON.stringify(mine));
    await rename(tmp, this.path);
    return before && before.token !== this.token ? { taken: true, predecessor: before.token } : { taken: true };
  }
}
