import { StopCutShortError } from '../errors.js';
import type { Logger } from '../log.js';
import { ExitCode } from './command.js';

export interface BoundedStopOptions {
  /** The process is gone at most this long after the first signal (`stopTimeoutMs`). */
  timeoutMs: number;
  log: Logger;
}

/**
 * `squirrel agent`'s bounded stop. Whoever sends SIGTERM (systemd, ECS, an instance shutdown)
 * SIGKILLs a process that takes too long, without a word in the log; so the agent keeps its own
 * bound and says what it leaves behind.
 *
 * - First SIGTERM/SIGINT: the `onStop` action starts a graceful stop; retries go on meanwhile.
 * - `timeoutMs - margin` later (margin: 1 s, or a fifth of a short bound), or at a second signal:
 *   `giveUp` aborts. Retries end, every store request is aborted (agent/wiring.ts), and the
 *   streamer logs what it did not store; the agent then exits with `ExitCode.stopCutShort`.
 * - `timeoutMs` after the first signal (or `margin` after a second one), should anything still hold
 *   the process (a leaked socket, a tool that ignores SIGTERM), it exits there and then, with the
 *   command's code if it has one, else `stopCutShort`: the bound is kept regardless.
 */
export class BoundedStop {
  readonly giveUp = new AbortController();
  private giveUpTimer: NodeJS.Timeout | undefined;
  private requested = false;
  private action: (() => void) | undefined;

  constructor(private readonly opts: BoundedStopOptions) {}

  get timeoutMs(): number {
    return this.opts.timeoutMs;
  }

  private get marginMs(): number {
    return Math.min(1000, Math.round(this.opts.timeoutMs / 5));
  }

  /**
   * Handles SIGINT and SIGTERM from now on. `on`, not `once`: a listener must stay, or a handler
   * added later (the child-process registry of a running backup) would re-raise the signal and
   * end the process mid-stop.
   */
  install(): void {
    process.on('SIGINT', (signal) => this.request(signal));
    process.on('SIGTERM', (signal) => this.request(signal));
  }

  get isRequested(): boolean {
    return this.requested;
  }

  /** What starts the graceful stop (store what is held, release the lease); run now if already asked. */
  onStop(action: () => void): void {
    this.action = action;
    if (this.requested) action();
  }

  request(signal: string): void {
    if (this.requested) {
      this.opts.log.warn({ signal }, `second ${signal} while stopping: giving up now`);
      this.cut(`a second ${signal} asked to stop at once`);
      return;
    }
    this.requested = true;
    const giveUpMs = this.opts.timeoutMs - this.marginMs;
    this.opts.log.info({ signal, stopTimeoutMs: this.opts.timeoutMs }, `stopping on ${signal}: storing what is held, then releasing the lease (giving up after ${giveUpMs} ms)`);
    // not unref'd: a stop stuck on a promise nothing will settle still ends in a cut, not in an exit 0
    this.giveUpTimer = setTimeout(() => this.cut(`the stop did not finish within ${giveUpMs} ms (stopTimeoutMs is ${this.opts.timeoutMs})`), giveUpMs);
    this.exitAtLatest(this.opts.timeoutMs);
    this.action?.();
  }

  /** The command is done (its code decided): no give-up is needed any more. */
  settle(): void {
    clearTimeout(this.giveUpTimer);
  }

  private cut(why: string): void {
    if (this.giveUp.signal.aborted) return;
    // whatever ends the process from here on (even an emptied event loop) reports the cut stop
    process.exitCode = ExitCode.stopCutShort;
    clearTimeout(this.giveUpTimer);
    this.giveUp.abort(new StopCutShortError(why));
    this.exitAtLatest(this.marginMs);
  }

  /** Unref'd: it matters only while something else holds the process. */
  private exitAtLatest(ms: number): void {
    setTimeout(() => {
      const code = typeof process.exitCode === 'number' ? process.exitCode : ExitCode.stopCutShort;
      this.opts.log.error({ exitCode: code }, 'stop: something still holds the process at the end of the stop bound; exiting now');
      process.exit(code);
    }, ms).unref();
  }
}
