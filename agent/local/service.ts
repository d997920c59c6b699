import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { closeSync, openSync, readFileSync, statSync } from 'node:fs';
import { ProcessError } from '../errors.js';
import { registerChild } from '../server/children.js';
import { isRunning, poll, terminate } from '../server/process-util.js';

/**
 * One long-running helper process (the S3 or DynamoDB stand-in) with its output in a log file.
 * Attached services are registered with children.ts and die with this process; detached ones
 * (for `squirrel local up`) get their own process group and outlive it.
 */
export interface ServiceSpec<T> {
  /** For messages: "s3rver", "DynamoDB Local". */
  name: string;
  command: string;
  args: string[];
  /** stdout and stderr are appended here. */
  logFile: string;
  detached: boolean;
  /** Attached only: give the child a stdin pipe that closes when this process dies. */
  stdinPipe?: boolean;
  /** Returns a value once the service is ready; gets the log written since this start. */
  ready: (newLog: () => string) => Promise<T | undefined> | T | undefined;
  timeoutMs: number;
}

export interface ServiceProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** SIGTERM, then SIGKILL after a few seconds. Idempotent. */
  stop(): Promise<void>;
}

/** Thrown when the child exited before it was ready; `log` is what it wrote meanwhile. */
export class ServiceStartError extends ProcessError {
  constructor(name: string, message: string, readonly log: string) {
    super(name, message, { hint: log.trim() ? `Its output ended with:\n${log.trimEnd().split('\n').slice(-20).join('\n')}` : undefined });
  }
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

export async function startService<T>(spec: ServiceSpec<T>): Promise<{ service: ServiceProcess; value: T }> {
  const offset = sizeOf(spec.logFile);
  const newLog = (): string => {
    try {
      return readFileSync(spec.logFile).subarray(offset).toString('utf8');
    } catch {
      return '';
    }
  };
  const fd = openSync(spec.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(spec.command, spec.args, {
      stdio: [spec.stdinPipe && !spec.detached ? 'pipe' : 'ignore', fd, fd],
      detached: spec.detached,
    });
  } finally {
    closeSync(fd);
  }
  let spawnError: Error | undefined;
  child.on('error', (err) => (spawnError = err));
  const unregister = spec.detached ? () => undefined : registerChild(child);
  const service: ServiceProcess = {
    child,
    pid: child.pid ?? -1,
    async stop() {
      await terminate(child, 'SIGTERM', 5000);
      unregister();
    },
  };
  // Neither kind keeps this process alive: detached ones outlive it, attached ones are killed by
  // children.ts when it exits (and see their stdin close).
  child.unref();
  (child.stdin as Socket | null)?.unref();
  const value = await poll(() => spec.ready(newLog), { timeoutMs: spec.timeoutMs, intervalMs: 50, abort: () => !isRunning(child) });
  if (value !== undefined) return { service, value };
  const running = isRunning(child);
  await service.stop();
  if (spawnError) throw new ProcessError(spec.name, `could not start ${spec.command}: ${spawnError.message}`, { cause: spawnError });
  throw new ServiceStartError(
    spec.name,
    running ? `not ready after ${spec.timeoutMs} ms (log: ${spec.logFile})` : `exited with ${child.exitCode ?? child.signalCode} before it was ready (log: ${spec.logFile})`,
    newLog(),
  );
}
