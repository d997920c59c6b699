import type { ChildProcess } from 'node:child_process';
import { isRunning } from './process-util.js';

/**
 * Every child process this process started and must not leave behind (private servers of tests,
 * the demo, benchmarks). When this process ends in any way we can observe (normal exit, SIGINT,
 * SIGTERM, SIGHUP, an uncaught exception) each registered child still running is SIGKILLed and
 * its synchronous cleanup (removing a temporary directory) runs. A graceful stop is the owner's
 * job while it is still in control; this is the last resort. SIGKILL of this process itself
 * cannot be observed: mariadbd and DynamoDB Local then outlive it (the S3 stand-in does not:
 * it exits when its stdin pipe from us closes).
 *
 * Children meant to outlive us (`squirrel local up`) are simply not registered.
 */
interface Entry {
  child: ChildProcess | undefined;
  cleanup: (() => void) | undefined;
}

const entries = new Set<Entry>();
let installed = false;

const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * SIGKILLs every registered child still running, then runs every cleanup, synchronously (all
 * kills first, so no cleanup removes a directory a live server still writes to).
 */
export function killRegisteredChildren(): void {
  const all = [...entries];
  entries.clear();
  for (const { child } of all) {
    if (child && isRunning(child)) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  for (const { cleanup } of all) {
    try {
      cleanup?.();
    } catch {
      // best effort: we are on the way out
    }
  }
}

function onSignal(signal: NodeJS.Signals): void {
  killRegisteredChildren();
  process.removeListener(signal, signalHandlers[signal]);
  // Our listener suppressed the default action. If nobody else handles the signal, end the
  // process the way the signal would have (exit status 128 + n, as a shell reports it).
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

const signalHandlers = Object.fromEntries(signals.map((s) => [s, () => onSignal(s)])) as Record<NodeJS.Signals, () => void>;

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', killRegisteredChildren);
  // The monitor variant observes an uncaught exception without changing what happens next.
  process.on('uncaughtExceptionMonitor', killRegisteredChildren);
  for (const s of signals) process.on(s, signalHandlers[s]);
}

/**
 * Registers a child (and/or a synchronous cleanup) to be killed when this process ends.
 * Returns the function that unregisters it, to be called once the owner has stopped it.
 */
export function registerChild(child: ChildProcess | undefined, cleanup?: () => void): () => void {
  install();
  const entry: Entry = { child, cleanup };
  entries.add(entry);
  return () => {
    entries.delete(entry);
  };
}

/** How many children or cleanups are registered (for tests). */
export function registeredCount(): number {
  return entries.size;
}
