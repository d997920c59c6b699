import { Command } from 'commander';
import { loadConfig, formatConfigProblems, type Config, type ConfigKey } from '../config.js';
import { ConfigError, describeError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';

/** Exit codes shared by every command. */
export const ExitCode = {
  ok: 0,
  /** The command ran and found a problem (preflight fatal, verify not ok, ...). */
  failed: 1,
  /** The configuration or the command line is invalid. */
  usage: 2,
  /**
   * `squirrel agent` was stopped and gave up (its `stopTimeoutMs` ran out, or a second signal) before
   * it had stored all it held or released its lease. Nothing is lost: the durable position is
   * intact and a restarted agent reads the binlog again from it; the log names what was not stored.
   */
  stopCutShort: 3,
  /**
   * `squirrel agent` learned that its epoch was fenced (a newer epoch was claimed, or the epoch was
   * claimed for another server): it uploaded nothing more, put its server read-only (or shut it
   * down, `fenceAction`), ended the other client sessions and exited. The server must not rejoin
   * as it is (docs/fencing.md).
   */
  fenced: 4,
  /**
   * `squirrel agent` could not renew its lease for `leaseMs` and fenced its own server (`selfFence`),
   * as exit code 4 does for a fence it was told of (docs/fencing.md).
   */
  selfFenced: 5,
} as const;

export interface CommandContext<K extends ConfigKey> {
  config: Partial<Config> & Pick<Config, K>;
  log: Logger;
  out: (line: string) => void;
}

/** Adds the options every command that talks to a cluster takes. */
export function withConfigOption(cmd: Command): Command {
  return cmd.option('-c, --config <file>', 'configuration file (YAML or JSON); SQUIRREL_* variables override it');
}

/**
 * Runs a command body with validated configuration and the CLI's error handling: configuration
 * problems exit 2 with every problem listed; any other error prints its cause chain and hint.
 * The body returns the exit code. Only here does a command end the process.
 */
export async function runCommand<K extends ConfigKey>(
  opts: { config?: string },
  required: readonly K[],
  body: (ctx: CommandContext<K>) => Promise<number>,
): Promise<void> {
  let code: number;
  try {
    const config = loadConfig({ ...(opts.config ? { file: opts.config } : {}), env: process.env }, required);
    const log = createLogger(config.logLevel ?? 'info');
    code = await body({ config, log, out: (line) => process.stdout.write(`${line}\n`) });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`squirrel: ${formatConfigProblems(err)}\n`);
      code = ExitCode.usage;
    } else {
      process.stderr.write(`squirrel: ${describeError(err)}\n`);
      code = ExitCode.failed;
    }
  }
  process.exitCode = code;
}
