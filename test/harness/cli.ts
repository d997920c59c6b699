import { execFile } from 'node:child_process';
import { CLI } from '../../agent/local/agent-process.js';

export { CLI };

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node dist/agent/cli/main.js ...args` as a child process and resolves with its exit code
 * and output (never rejects on a non-zero exit). The child sees this process's environment
 * without any SQUIRREL_* variable, plus `env`.
 */
export function runCli(args: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SQUIRREL_')));
  // The AWS SDK warns about Node 20 on every start; it is noise in assertions on stderr.
  env.NODE_NO_WARNINGS = '1';
  Object.assign(env, opts.env);
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env, timeout: opts.timeoutMs ?? 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}
