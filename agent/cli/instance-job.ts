import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { instanceJobSpec, runInstanceJob, type InstanceJobSpec } from '../instance/job.js';
import { ExitCode, runCommand, withConfigOption } from './command.js';

/**
 * `squirrel instance-job`: what a new instance runs once it boots (EC2 user data, a local cluster
 * instance). Reads the job as JSON, runs it until SIGTERM, and exits 4 when its agent was fenced.
 */
export function register(program: Command): void {
  withConfigOption(program.command('instance-job'))
    .description('run a new instance\'s job: a fresh primary, or restore (and promote under the epoch claimed for it), then the agent, supervised')
    .requiredOption('--dir <dir>', 'the instance\'s directory (server data, agent state, status.json)')
    .option('--job <file>', 'the job as JSON: {clusterId, epoch, primary: {instanceId?, host, port}, job: {kind, target?}} (default: standard input)')
    .action(async (opts: { config?: string; dir: string; job?: string }) => {
      await runCommand(opts, ['clusterId', 'mysqlUrl', 'bucket', 'table', 'region'], async ({ config, log, out }) => {
        const text = readFileSync(opts.job ?? 0, 'utf8');
        const parsed = instanceJobSpec.safeParse(JSON.parse(text));
        if (!parsed.success) {
          process.stderr.write(`squirrel: invalid instance job: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(job)'}: ${i.message}`).join('; ')}\n`);
          return ExitCode.usage;
        }
        const spec = parsed.data as InstanceJobSpec;
        if (spec.clusterId !== config.clusterId) {
          process.stderr.write(`squirrel: the job is for cluster ${spec.clusterId}, this instance is configured for ${config.clusterId}\n`);
          return ExitCode.usage;
        }
        const stop = new AbortController();
        for (const s of ['SIGTERM', 'SIGINT'] as const) process.once(s, () => stop.abort());
        const agentEnv = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[0].startsWith('SQUIRREL_') && e[1] !== undefined));
        const phase = await runInstanceJob({ spec, config, dir: opts.dir, agentEnv, log, stop: stop.signal });
        out(`instance job ended: ${phase}`);
        return phase === 'fenced' ? ExitCode.fenced : ExitCode.ok;
      });
    });
}
