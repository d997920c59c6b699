import type { Command } from 'commander';
import { parseMysqlUrl } from '../config.js';
import { startDetached } from '../restore/detached-server.js';
import { serverDirFor } from '../restore/restore.js';
import { TargetError, parseTarget } from '../restore/target.js';
import { restoreCluster } from '../restore/restore-cluster.js';
import { ExitCode, runCommand, withConfigOption } from './command.js';

/** `squirrel restore --target … --datadir DIR`: base backup + chunks, to latest, a time or a GTID. */
export function register(program: Command): void {
  withConfigOption(program.command('restore'))
    .description('restore the cluster into a new datadir: the newest base backup before the target, then the binlog chunks up to it')
    .requiredOption('--target <target>', 'latest | time:<ISO-8601> | gtid:<domain-server-seq,...>')
    .requiredOption('--datadir <dir>', 'new (or empty) directory for the restored datadir')
    .option('--via <how>', 'replica: the restored server applies the chunks as a replica of the built-in fake primary, in parallel; pipe: mariadb-binlog | mariadb', 'replica')
    .option('--parallel <threads>', 'applier threads for --via replica (default: the number of cores)')
    .option('--start', 'leave the restored server running (prints its socket and port)')
    .option('--dry-run', 'print the plan (backup, chunks, bytes, target GTID) and change nothing')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { config?: string; target: string; datadir: string; via: string; parallel?: string; start?: boolean; dryRun?: boolean; json?: boolean }) => {
      await runCommand(opts, ['clusterId', 'mysqlUrl', 'bucket', 'table', 'region'], async ({ config, log, out }) => {
        let target;
        try {
          target = parseTarget(opts.target);
        } catch (err) {
          if (!(err instanceof TargetError) && !(err instanceof Error)) throw err;
          process.stderr.write(`squirrel: ${err.message}\n`);
          return ExitCode.usage;
        }
        if (opts.via !== 'replica' && opts.via !== 'pipe') {
          process.stderr.write(`squirrel: --via must be "replica" or "pipe", got "${opts.via}"\n`);
          return ExitCode.usage;
        }
        const parallelThreads = opts.parallel === undefined ? undefined : Number(opts.parallel);
        if (parallelThreads !== undefined && !(Number.isInteger(parallelThreads) && parallelThreads >= 0)) {
          process.stderr.write(`squirrel: --parallel must be a whole number of threads, got "${opts.parallel}"\n`);
          return ExitCode.usage;
        }
        const result = await restoreCluster(config, target, opts.datadir, {
          log,
          out: opts.json ? () => undefined : out,
          dryRun: !!opts.dryRun,
          start: false,
          via: opts.via,
          ...(parallelThreads !== undefined ? { parallelThreads } : {}),
        });
        // the replay's server stops with this command; --start runs a new one that outlives it
        const { user, password } = parseMysqlUrl(config.mysqlUrl);
        const running =
          opts.start && !opts.dryRun
            ? await startDetached({ datadir: result.datadir, serverDir: serverDirFor(result.datadir), serverId: result.serverId ?? result.plan.backup.server.serverId, user, password })
            : undefined;
        const summary = {
          dryRun: result.dryRun,
          backupId: result.backupId,
          chunks: opts.dryRun ? result.plan.chunks.length : result.chunks,
          transactions: result.transactions,
          gtidPosition: result.gtidPosition,
          targetGtid: result.plan.targetGtid,
          targetExact: result.plan.targetExact,
          bytes: result.plan.bytes,
          stoppedBy: result.stoppedBy,
          datadir: result.datadir,
          durationMs: result.durationMs,
          ...(running ? { server: running } : {}),
        };
        if (opts.json) out(JSON.stringify(summary));
        else if (!opts.dryRun) {
          out(`restored ${result.transactions} transaction(s) from ${result.chunks} chunk(s) on top of ${result.backupId}; GTID position ${result.gtidPosition || 'none'} (${result.durationMs} ms)`);
          if (running) out(`server running: socket ${running.socket}, port ${running.port}, pid ${running.pid} (stop it with: kill ${running.pid})`);
        }
        return ExitCode.ok;
      });
    });
}
