import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs on stderr, so stdout stays for command output (tables, --json). */
export function createLogger(level = 'info', name = 'squirrel'): Logger {
  return pino({ name, level, base: { pid: process.pid } }, pino.destination(2));
}

/** A logger that drops everything, for tests and pure callers. */
export const silentLogger: Logger = pino({ level: 'silent' });
