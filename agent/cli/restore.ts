import type { Command } from 'commander';
import { parseMysqlUrl } from '../config.js';
import { startDetached } from '../restore/detached-server.js';
import { serverDirFor } from '../restore/restore.js';
import { TargetError, parseTarget } from '../restore/target.js';
import { restoreCluster } from '../restore/restore-cluster.js';
import { parseSize } from '../restore/server-sizing.js';
import { ExitCode, runCommand, withConfigOption } from './command.js';

/** `squirrel restore --target … --datadir DIR`: base backup + chunks, to latest, a time or a GTID. */
export function register(program: Command): void {
  withConfigOption(program.command('restore'))
    .description('restore the cluster into a new datadir: the newest base backup before the target, then the binlog chunks up to it')
    .requiredOption('--target <target>', 'latest | time:<ISO-8601> | gtid:<domain-server-seq,...>')
    .requiredOption('--datadir <dir>', 'new (or empty) directory for the restored datadir')
    .option('--via <how>', 'replica: the restored server applies the chunks as a replica of the built-in fake primary, in parallel; pipe: mariadb-binlog | mariadb', 'replica')
    .option('--parallel <threads>', 'applier threads for --via replica (default: 4 per core, see docs/benchmarks.md)')
    .option('--buffer-pool <size>', 'InnoDB buffer pool of the replay server, e.g. 4G (default: 1.1 x (backup data + binlog), at most 60% of memory)')
    .option('--redo-log <size>', 'InnoDB redo log of the replay server, e.g. 1G (default: the buffer pool size, 256M..4G)')
    .option('--start', 'leave the restored server running (prints its socket and port)')
    .option('--dry-run', 'print the plan (backup, chunks, bytes, target GTID) and change nothing')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { config?: string; target: string; datadir: string; via: string; parallel?: string; bufferPool?: string; redoLog?: string; start?: boolean; dryRun?: boolean; json?: boolean }) => {
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
        const sizes: { bufferPoolBytes?: number; logFileBytes?: number } = {};
        for (const [flag, text, key] of [['--buffer-pool', opts.bufferPool, 'bufferPoolBytes'], ['--redo-log', opts.redoLog, 'logFileBytes']] as const) {
          if (text === undefined) continue;
          const bytes = parseSize(text);
          if (bytes === undefined || bytes <= 0) {
            process.stderr.write(`squirrel: ${flag} must be a size such as 512M or 4G, got "${text}"\n`);
            return ExitCode.usage;
          }
          sizes[key] = bytes;
        }
        const result = await restoreCluster(config, target, opts.datadir, {
          log,
          out: opts.json ? () => undefined : out,
          dryRun: !!opts.dryRun,
          start: false,
          via: opts.via,
          ...sizes,
          ...(parallelThreads !== undefined ? { parallelThreads } : {}),
        });
        // the replay's server stops with this command; --start runs a new one that outlives it
        const { user, password } = parseMysqlUrl(config.mysqlUrl);
        const running =
          opts.start && !opts.dryRun
            ? await startDetached({ datadir: result.datadir, serverDir: serverDirFor(result.datadir), serverId: result.serverId ?? result.plan.backup.server.serverId, user, password, ...(result.sizing ? { innodbSizes: result.sizing } : {}) })
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
          phases: result.phases,
          predicted: { seconds: Math.round(result.prediction.seconds), transactions: result.prediction.transactions, rates: result.prediction.rates.source },
          ...(result.sizing ? { sizing: result.sizing } : {}),
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
