import type { Command } from 'commander';
import { parseDuration, prune } from '../retention/prune.js';
import { openStateStore } from '../wiring.js';
import { objectStoreFor } from './agent.js';
import { ExitCode, runCommand, withConfigOption } from './command.js';

/** `squirrel prune --keep <duration>`: delete base backups and chunks no restore inside the window needs. */
export function register(program: Command): void {
  withConfigOption(program.command('prune'))
    .description('delete base backups and chunks that no restore target inside the window needs (never the newest complete backup)')
    .requiredOption('--keep <duration>', 'the window every point of which must stay restorable, e.g. 7d, 36h')
    .option('--dry-run', 'print what would be deleted and delete nothing')
    .option('--json', 'print the plan as JSON')
    .action(async (opts: { config?: string; keep: string; dryRun?: boolean; json?: boolean }) => {
      await runCommand(opts, ['clusterId', 'bucket', 'table', 'region'], async ({ config, log, out }) => {
        let keepMs: number;
        try {
          keepMs = parseDuration(opts.keep);
        } catch (err) {
          process.stderr.write(`squirrel: --keep: ${(err as Error).message}\n`);
          return ExitCode.usage;
        }
        const plan = await prune(
          { objects: objectStoreFor(config), stateStore: openStateStore(config), prefix: config.prefix ?? '', clusterId: config.clusterId, log, ...(opts.json ? {} : { out }) },
          { keepMs, nowMs: Date.now(), dryRun: !!opts.dryRun },
        );
        if (opts.json) {
          out(JSON.stringify({ dryRun: !!opts.dryRun, windowStart: plan.windowStart, floor: plan.floor?.id ?? null, keepBackups: plan.keepBackups, deleteBackups: plan.deleteBackups.map((b) => b.id), deleteChunks: plan.deleteChunks.length, bytes: plan.bytes }));
        }
        return ExitCode.ok;
      });
    });
}
