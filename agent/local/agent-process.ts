import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { registerChild } from '../server/children.js';

/** The compiled CLI, as `npx squirrel` runs it (SQUIRREL_TEST_CLI points tests at another entry point). */
export const CLI = process.env.SQUIRREL_TEST_CLI ?? fileURLToPath(new URL('../cli/main.js', import.meta.url));

/** A `squirrel agent` child process; its stderr (JSON logs) is kept for diagnostics. */
export class AgentProcess {
  private constructor(
    readonly child: ChildProcess,
    private readonly unregister: () => void,
    private readonly output: string[],
  ) {}

  /** `nodeArgs` go to node itself (e.g. V8 flags), before the CLI. */
  static start(env: Record<string, string>, args: string[] = [], nodeArgs: string[] = []): AgentProcess {
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SQUIRREL_')));
    const child = spawn(process.execPath, [...nodeArgs, CLI, 'agent', ...args], { env: { ...clean, NODE_NO_WARNINGS: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const output: string[] = [];
    const keep = (b: Buffer) => {
      output.push(b.toString());
      if (output.length > 400) output.splice(0, output.length - 400);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    return new AgentProcess(child, registerChild(child), output);
  }

  get log(): string {
    return this.output.join('');
  }

  /** Resolves with the exit code (or the signal name) once the process has exited. */
  exited(): Promise<number | string> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve(this.child.exitCode ?? this.child.signalCode!);
    return new Promise((resolve) => this.child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  }

  async kill9(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited();
    this.unregister();
  }

  /**
   * SIGTERM: the agent stores what it holds, releases its lease and exits 0. One that has not
   * exited after `timeoutMs` is killed, and the answer says so (a test then fails on it).
   */
  async stop(timeoutMs = 30_000): Promise<number | string> {
    this.child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([this.exited(), new Promise<string>((resolve) => (timer = setTimeout(() => resolve('did not stop on SIGTERM'), timeoutMs)))]);
    clearTimeout(timer);
    if (code === 'did not stop on SIGTERM') await this.kill9();
    this.unregister();
    return code;
  }
}
