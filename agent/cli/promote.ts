import type { Command } from 'commander';
import { ClusterStateRepo } from '../cluster/repo.js';
import { parseMysqlUrl } from '../config.js';
import { promote } from '../restore/promote.js';
import { openStateStore } from '../wiring.js';
import { ExitCode, runCommand, withConfigOption } from './command.js';

/** `squirrel promote`: make a restored server the primary of the epoch claimed for it. */
export function register(program: Command): void {
  withConfigOption(program.command('promote'))
    .description(
      'make a restored server the primary of the epoch claimed for it (squirrel claim): checks it applied exactly the restore target, ' +
        'stops and resets replication, continues its binlog, puts back the durable settings, records where the epoch begins, read_only off',
    )
    .option('--url <mysql-url>', 'the restored server (default: SQUIRREL_MYSQL_URL)')
    .option('--target-gtid <position>', 'the GTID position the restore reached, as `squirrel restore` printed it (default: the cluster\'s durable position, for a restore to latest)')
    .option('--force', 'promote even when a check refuses (a server behind or ahead of the target, an epoch not claimed for it, no cluster configuration): loses or forks history')
    .option('--json', 'print the steps as JSON')
    .action(async (opts: { config?: string; url?: string; targetGtid?: string; force?: boolean; json?: boolean }) => {
      await runCommand(opts, opts.url ? [] : ['mysqlUrl'], async ({ config, log, out }) => {
        const url = opts.url ?? config.mysqlUrl!;
        const { user, host, port } = parseMysqlUrl(url);
        // the epoch check needs the cluster's state item; without it only --force promotes
        const cluster =
          config.clusterId && config.table && config.region
            ? {
                repo: new ClusterStateRepo(openStateStore({ table: config.table, region: config.region, ...(config.dynamodbEndpoint ? { dynamodbEndpoint: config.dynamodbEndpoint } : {}) }), config.clusterId),
                identity: { ...(config.instanceId ? { instanceId: config.instanceId } : {}), host, port },
              }
            : undefined;
        const steps = await promote(url, {
          ...(cluster ? { cluster } : {}),
          ...(opts.targetGtid !== undefined ? { targetGtid: opts.targetGtid } : {}),
          force: !!opts.force,
          log,
          warn: (line) => process.stderr.write(`squirrel: ${line}\n`),
        });
        const started = steps.find((s) => s.timeline)?.timeline;
        if (opts.json) out(JSON.stringify({ server: `${user}@${host}:${port}`, steps: steps.map(({ action, detail }) => ({ action, detail })), ...(started ? { epoch: started.epoch, start: started.start } : {}) }));
        else {
          out(`promoted ${user}@${host}:${port}:`);
          for (const s of steps) out(`  ${s.action.padEnd(12)} ${s.detail}`);
          out(
            started
              ? `next: start \`squirrel agent\` for this server (SQUIRREL_MYSQL_URL=mysql://…@${host}:${port}${config.instanceId ? `, instanceId ${config.instanceId}` : ''}): it joins epoch ${started.epoch}`
              : 'next: claim an epoch for this server (`squirrel claim`) before its agent can stream; until then nothing it writes is protected',
          );
        }
        return ExitCode.ok;
      });
    });
}
