import type { Command } from 'commander';
import { takeBaseBackup } from '../backup/base-backup.js';
import { backupDepsFor } from './agent.js';
import { ExitCode, runCommand, withConfigOption } from './command.js';

/** `squirrel backup [--logical]`: take a base backup now and store it with its manifest. */
export function register(program: Command): void {
  withConfigOption(program.command('backup'))
    .description('take a base backup (mariabackup, or mariadb-dump with --logical), compressed with zstd, streamed to S3')
    .option('--logical', 'a logical dump (mariadb-dump --single-transaction --gtid --master-data); for small databases')
    .option('--durable-timeout <seconds>', 'how long to wait for the binlog up to the backup to be durable', '300')
    .option('--json', 'print the manifest as JSON')
    .action(async (opts: { config?: string; logical?: boolean; durableTimeout: string; json?: boolean }) => {
      await runCommand(opts, ['clusterId', 'mysqlUrl', 'bucket', 'table', 'region'], async ({ config, log, out }) => {
        const timeoutSec = Number(opts.durableTimeout);
        if (!Number.isFinite(timeoutSec) || timeoutSec <= 0) {
          process.stderr.write(`squirrel: --durable-timeout must be a positive number of seconds, got "${opts.durableTimeout}"\n`);
          return ExitCode.usage;
        }
        const manifest = await takeBaseBackup(backupDepsFor(config, log), { kind: opts.logical ? 'logical' : 'physical', durableTimeoutMs: timeoutSec * 1000 });
        if (opts.json) out(JSON.stringify(manifest));
        else {
          out(`backup ${manifest.id} complete: ${manifest.kind}, ${manifest.object.sizeBytes} bytes (${manifest.object.rawSizeBytes} before zstd)`);
          out(`  consistent at ${manifest.binlog.file}:${manifest.binlog.pos}, GTID position ${manifest.binlog.gtid || 'none'}, ${manifest.consistentAt}`);
          out(`  ${manifest.object.key}`);
        }
        return ExitCode.ok;
      });
    });
}
