import type { Command } from 'commander';
import { configSchema } from '../config.js';
import { clusterDown, clusterKill, clusterRestore, clusterUp, CLUSTER_DEFAULTS, waitForExecution, type KillWhat } from '../local/cluster/cluster.js';
import { localDown, localUp, LOCAL_DEFAULTS } from '../local/stack.js';
import { parseTarget } from '../restore/target.js';
import type { RestoreTarget } from '../ports/compute.js';
import { ExitCode, runCommand } from './command.js';

const LOSSLESS_MODES = configSchema.shape.lossless.options;

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

  const cluster = local.command('cluster').description('the whole loop on this machine: a primary instance, an endpoint, and the control plane that fails it over');

  cluster
    .command('up')
    .description('start the stand-ins, a primary instance (mariadbd + agent, one process group), the endpoint and the control plane; write DIR/env; return')
    .requiredOption('--dir <dir>', 'directory for everything the cluster keeps (a new one per cluster)')
    .option('--cluster-id <id>', 'the cluster\'s id', CLUSTER_DEFAULTS.clusterId)
    .option('--endpoint-port <port>', 'the endpoint\'s fixed port (clients connect here)', String(CLUSTER_DEFAULTS.endpointPort))
    .option('--lease-ms <ms>', 'the agents\' lease', String(CLUSTER_DEFAULTS.leaseMs))
    .option('--lossless <mode>', 'strict | best-effort | off: every instance\'s server runs semi-sync (AFTER_SYNC) and a commit returns once durable (README, "Lossless mode")', 'off')
    .action(async (opts: { dir: string; clusterId: string; endpointPort: string; leaseMs: string; lossless: string }) => {
      await runCommand({}, [], async ({ out }) => {
        const lossless = LOSSLESS_MODES.find((m) => m === opts.lossless);
        if (!lossless) throw new Error(`--lossless must be ${LOSSLESS_MODES.join(', ')}, not ${opts.lossless}`);
        const up = await clusterUp(opts.dir, { clusterId: opts.clusterId, endpointPort: Number(opts.endpointPort), leaseMs: Number(opts.leaseMs), lossless });
        if (up.alreadyRunning) out(`already running for ${opts.dir}`);
        if (lossless !== 'off') out(`lossless ${lossless}: a commit returns only once its chunk is in S3 and the durable position covers it`);
        out(`endpoint: ${up.endpointUrl.replace(/:[^:@]*@/, ':***@')} (SQUIRREL_ENDPOINT_URL)`);
        out(`wrote ${up.envFile}; point squirrel and clients at the cluster with: . ${up.envFile}`);
        return ExitCode.ok;
      });
    });

  cluster
    .command('kill')
    .description('SIGKILL the primary: the whole instance (as when EC2 loses it), or only its server or agent')
    .requiredOption('--dir <dir>', 'the directory given to cluster up')
    .option('--what <what>', 'instance | server | agent', 'instance')
    .action(async (opts: { dir: string; what: string }) => {
      await runCommand({}, [], async ({ out }) => {
        if (!['instance', 'server', 'agent'].includes(opts.what)) throw new Error(`--what must be instance, server or agent, not ${opts.what}`);
        const k = await clusterKill(opts.dir, opts.what as KillWhat);
        out(`killed ${k.what === 'instance' ? `instance ${k.instanceId} (process group ${k.pid})` : `the ${k.what} of ${k.instanceId} (pid ${k.pid})`}`);
        return ExitCode.ok;
      });
    });

  cluster
    .command('restore')
    .description('start the restore workflow as the AWS console would')
    .requiredOption('--dir <dir>', 'the directory given to cluster up')
    .option('--target <target>', 'latest | time:<ISO-8601> | gtid:<position>', 'latest')
    .option('--mode <mode>', 'replace-primary | new-instance', 'new-instance')
    .option('--wait', 'wait until the workflow ends and print its outcome')
    .action(async (opts: { dir: string; target: string; mode: string; wait?: boolean }) => {
      await runCommand({}, [], async ({ out }) => {
        if (opts.mode !== 'replace-primary' && opts.mode !== 'new-instance') throw new Error(`--mode must be replace-primary or new-instance, not ${opts.mode}`);
        const t = parseTarget(opts.target);
        const target: RestoreTarget = t.kind === 'latest' ? 'latest' : t.kind === 'time' ? { time: t.at } : { gtid: t.gtid };
        const name = await clusterRestore(opts.dir, target, opts.mode);
        out(`started restore workflow ${name}`);
        if (!opts.wait) return ExitCode.ok;
        const outcome = await waitForExecution(opts.dir, name);
        out(JSON.stringify(outcome, null, 2));
        return outcome.status === 'SUCCEEDED' ? ExitCode.ok : ExitCode.failed;
      });
    });

  cluster
    .command('down')
    .description('stop everything cluster up started (data stays in DIR)')
    .requiredOption('--dir <dir>', 'the directory given to cluster up')
    .action(async (opts: { dir: string }) => {
      await runCommand({}, [], async ({ out }) => {
        const stopped = await clusterDown(opts.dir);
        out(stopped.length === 0 ? `nothing running for ${opts.dir}` : `stopped ${stopped.join(', ')}`);
        return ExitCode.ok;
      });
    });
}
