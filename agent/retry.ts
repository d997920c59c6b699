import { SquirrelError } from './errors.js';

/** The one retry policy: exponential backoff with full jitter, capped. */
export interface Backoff {
  baseMs: number;
  maxMs: number;
}

export const defaultBackoff: Backoff = { baseMs: 100, maxMs: 10_000 };

export function backoffMs(attempt: number, policy: Backoff = defaultBackoff, random = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(attempt, 20));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** True for errors a later attempt can get past: our retryable kinds and raw network failures. */
export function isRetryable(err: unknown): boolean {
  if (err instanceof SquirrelError) return err.retryable;
  const code = (err as NodeJS.ErrnoException)?.code;
  return typeof code === 'string' && ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN'].includes(code);
}

/** Waits `ms`, or less when `signal` aborts first (it never rejects: the caller checks the signal). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Resolves once `signal` aborts (never, without one). */
export function whenAborted(signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return new Promise<void>(() => undefined);
  if (signal.aborted) return Promise.resolve();
  return new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

/**
 * Runs `op` until it succeeds or fails with a non-retryable error, or `stopped()` turns true.
 * `onRetry` is told each failure (for logging with the current lag). An abort of `signal` cuts the
 * wait between attempts short; the last failure is then thrown.
 */
export async function retrying<T>(
  op: () => Promise<T>,
  opts: {
    policy?: Backoff;
    stopped?: () => boolean;
    onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
    /** Narrows which retryable errors are retried here (the caller handles the others). */
    retryIf?: (err: unknown) => boolean;
    signal?: AbortSignal;
  } = {},
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await op();
    } catch (err) {
      if (!isRetryable(err) || (opts.retryIf && !opts.retryIf(err)) || opts.stopped?.() || opts.signal?.aborted) throw err;
      const delay = backoffMs(attempt, opts.policy);
      opts.onRetry?.(err, attempt, delay);
      await sleep(delay, opts.signal);
      if (opts.stopped?.() || opts.signal?.aborted) throw err;
    }
  }
}
