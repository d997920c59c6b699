import { getPriority, setPriority } from 'node:os';
import type { Logger } from '../log.js';

/**
 * The nice value the restore's own thread runs the fake primary at during a replay. The appliers
 * of the replica then win the cores whenever both want them: the fake primary needs about one
 * CPU-second per 25,000 sysbench transactions and fills the relay log long before the appliers
 * drain it, so it loses nothing by waiting, while an applier preempted holding a lock makes the
 * others spin. Measured on two cores (docs/benchmarks.md, restore at scale): the restore's process
 * used 0.7-0.8 CPU-seconds during a 26,000-transaction replay at nice 10, against 1.0-1.4 at 0.
 */
export const REPLAY_NICE = 10;

export interface PriorityOptions {
  /** The nice value to run at; 0 or less: unchanged. */
  nice: number;
  log: Logger;
  /**
   * Whether the thread can be given its priority back afterwards. Raising a thread's priority
   * takes CAP_SYS_NICE: without it, a lowered thread would stay low for the rest of the process
   * (an agent that restores, promotes and then streams). @default running as root
   */
  canRaise?: boolean;
}

/**
 * Runs `work` with this thread (Node's main thread: the event loop, the fake primary) at a lower
 * CPU priority, and puts the priority back when it ends, however it ends. Only the calling thread
 * is changed (Linux keeps a nice value per thread): libuv's pool and worker threads are not.
 */
export async function atLowerPriority<T>(opts: PriorityOptions, work: () => Promise<T>): Promise<T> {
  const before = getPriority();
  const canRaise = opts.canRaise ?? process.getuid?.() === 0;
  if (opts.nice <= before) return work();
  if (!canRaise) {
    opts.log.debug({ nice: opts.nice }, 'replay at normal CPU priority: lowering it could not be undone without CAP_SYS_NICE');
    return work();
  }
  setPriority(opts.nice);
  try {
    return await work();
  } finally {
    setPriority(before);
  }
}
