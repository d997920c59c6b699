import type { Command } from 'commander';
import { localDown, localUp, LOCAL_DEFAULTS } from '../local/stack.js';
import { ExitCode, runCommand } from './command.js';

/** `squirrel local up|down`: the local S3 and DynamoDB stand-ins, kept running between commands. */
export function register(program: Command): void {
  const local = program.command('local').description('run the local stand-ins for S3 and DynamoDB (for trying squirrel out and for tests)');

  local
    .command('up')
    .description('start local S3 (s3rver) and DynamoDB Local in the background, create the bucket and table, write DIR/env')
    .requiredOption('--dir <dir>', 'directory for their data, logs, pids.json and env')
    .option('--cluster-id <id>', 'SQUIRREL_CLUSTER_ID to write into DIR/env', LOCAL_DEFAULTS.clusterId)
    .option('--bucket <name>', 'bucket to create', LOCAL_DEFAULTS.bucket)
    .option('--table <name>', 'DynamoDB table to create', LOCAL_DEFAULTS.table)
    .action(async (opts: { dir: string; clusterId: string; bucket: string; table: string }) => {
      await runCommand({}, [], async ({ out }) => {
        const up = await localUp(opts.dir, { clusterId: opts.clusterId, bucket: opts.bucket, table: opts.table });
        const env = up.env;
        if (up.alreadyRunning) out(`already running for ${opts.dir}`);
        out(`S3:       ${env.SQUIRREL_S3_ENDPOINT} (bucket ${env.SQUIRREL_BUCKET})`);
        out(`DynamoDB: ${env.SQUIRREL_DYNAMODB_ENDPOINT} (table ${env.SQUIRREL_TABLE})`);
        out(`wrote ${up.envFile}; point squirrel at them with: . ${up.envFile}`);
        return ExitCode.ok;
      });
    });

  local
    .command('down')
    .description('stop what `local up --dir DIR` started (their data stays in DIR)')
    .requiredOption('--dir <dir>', 'the directory given to local up')
    .action(async (opts: { dir: string }) => {
      await runCommand({}, [], async ({ out }) => {
        const stopped = await localDown(opts.dir);
        out(stopped.length === 0 ? `nothing running for ${opts.dir}` : `stopped ${stopped.map((p) => `${p.name} (pid ${p.pid})`).join(', ')}`);
        return ExitCode.ok;
      });
    });
}
