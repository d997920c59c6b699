import { execFile, spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { ProcessError } from '../errors.js';
import { registerChild } from '../server/children.js';
import { isRunning, terminate } from '../server/process-util.js';

/**
 * One external tool run as a child process (mariabackup, mbstream, zstd, mariadb-binlog,
 * mariadb): its stdin/stdout are streams or inherited descriptors, its stderr is kept (the last
 * `stderrKeepBytes`) for the error message and handed line by line to `onStderrLine`. The child
 * is registered with children.ts, so it is killed if this process ends while it runs.
 *
 * `done` resolves when the tool exits 0 and rejects with a ProcessError naming the tool, its exit
 * status and the end of its stderr otherwise. It is always observed (no unhandled rejection);
 * await it to learn the outcome.
 */
export interface ToolOptions {
  /**
   * 'pipe' (default) gives a writable `stdin`, for a `pipeline` through this process where bytes
   * must be read on the way (counted, scanned). Another ToolProcess (started with stdout 'pipe')
   * joins the two tools directly, as a shell pipe does: its output never passes through this
   * process, and this process keeps no end of that pipe, so either tool's death reaches the other.
   */
  stdin?: 'pipe' | 'ignore' | ToolProcess;
  /** 'pipe' (default) gives a readable `stdout`; 'ignore' discards it; a number is a file descriptor. */
  stdout?: 'pipe' | 'ignore' | number;
  onStderrLine?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  stderrKeepBytes?: number;
}

export class ToolProcess {
  readonly done: Promise<void>;
  private stderrTail = '';
  private unregister: () => void;

  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
    opts: ToolOptions,
  ) {
    this.unregister = registerChild(child);
    // a tool that exits early breaks the pipe into it: that is reported through its exit status
    child.stdin?.on('error', () => undefined);
    const keep = opts.stderrKeepBytes ?? 16 * 1024;
    let partial = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (text: string) => {
      this.stderrTail = (this.stderrTail + text).slice(-keep);
      if (!opts.onStderrLine) return;
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) opts.onStderrLine(line);
    });
    this.done = new Promise<void>((resolve, reject) => {
      child.once('error', (err) => {
        this.unregister();
        reject(new ProcessError(name, `cannot run: ${err.message}`, { cause: err, hint: `Is ${name} installed and on PATH?` }));
      });
      child.once('close', (code, signal) => {
        this.unregister();
        if (partial && opts.onStderrLine) opts.onStderrLine(partial);
        if (code === 0) return resolve();
        reject(
          new ProcessError(name, `exited with ${code ?? signal}`, {
            hint: this.stderrTail.trim() ? `Its output ended with:\n${this.stderrTail.trim().split('\n').slice(-12).join('\n')}` : undefined,
          }),
        );
      });
    });
    this.done.catch(() => undefined);
  }

  static start(command: string, args: readonly string[], opts: ToolOptions = {}): ToolProcess {
    const from = opts.stdin instanceof ToolProcess ? opts.stdin.stdout : undefined;
    const stdio: StdioOptions = [from ?? (opts.stdin as 'pipe' | 'ignore' | undefined) ?? 'pipe', opts.stdout ?? 'pipe', 'pipe'];
    const child = spawn(command, args, { stdio, env: opts.env ?? process.env, ...(opts.cwd ? { cwd: opts.cwd } : {}) });
    // the child has its own copy of the read end now; ours would keep the writer alive if the child died
    from?.destroy();
    return new ToolProcess(command, child, opts);
  }

  get stdin(): Writable {
    if (!this.child.stdin) throw new Error(`${this.name}: stdin is not a pipe`);
    return this.child.stdin;
  }

  get stdout(): Readable {
    if (!this.child.stdout) throw new Error(`${this.name}: stdout is not a pipe`);
    return this.child.stdout;
  }

  /** What the tool wrote on stderr (the last part of it). */
  get stderr(): string {
    return this.stderrTail;
  }

  /** Stops the tool (SIGTERM, then SIGKILL) if it still runs; never throws. */
  async kill(): Promise<void> {
    if (isRunning(this.child)) await terminate(this.child, 'SIGTERM', 5000);
  }
}

/** Runs a tool to completion and returns its stdout (for `--version` and `--prepare`). */
export function runTool(command: string, args: readonly string[], timeoutMs = 600_000): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      unregister();
      if (!err) return resolve({ stdout, stderr });
      const tail = `${stdout}\n${stderr}`.trim().split('\n').slice(-15).join('\n');
      reject(new ProcessError(command, `${args.filter((a) => !a.startsWith('--password')).join(' ')}: ${err.message.split('\n')[0]}`, { cause: err, hint: `Its output ended with:\n${tail}` }));
    });
    const unregister = registerChild(child);
  });
}

/** The first line of `tool --version` ('' when the tool cannot say). */
export async function toolVersion(command: string): Promise<string> {
  try {
    const { stdout, stderr } = await runTool(command, ['--version'], 10_000);
    return (stdout.trim() || stderr.trim()).split('\n')[0]!.trim();
  } catch {
    return '';
  }
}
