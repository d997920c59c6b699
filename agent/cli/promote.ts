import type { Command } from 'commander';
import { parseMysqlUrl } from '../config.js';
import { promote } from '../restore/promote.js';
import { ExitCode, runCommand, withConfigOption } from './command.js';

/** `squirrel promote`: make a restored server a primary. */
export function register(program: Command): void {
  withConfigOption(program.command('promote'))
    .description('make a restored server a primary: stop and reset replication, continue its binlog, read_only off, durable settings back')
    .option('--url <mysql-url>', 'the restored server (default: SQUIRREL_MYSQL_URL)')
    .option('--json', 'print the steps as JSON')
    .action(async (opts: { config?: string; url?: string; json?: boolean }) => {
      await runCommand(opts, opts.url ? [] : ['mysqlUrl'], async ({ config, out }) => {
        const url = opts.url ?? config.mysqlUrl!;
        const steps = await promote(url);
        const { user, host, port } = parseMysqlUrl(url);
        if (opts.json) out(JSON.stringify({ server: `${user}@${host}:${port}`, steps }));
        else {
          out(`promoted ${user}@${host}:${port}:`);
          for (const s of steps) out(`  ${s.action.padEnd(12)} ${s.detail}`);
          out('next: point `squirrel agent` at this server (the control plane claims the new epoch; not built yet)');
        }
        return ExitCode.ok;
      });
    });
}
