import type { Command } from 'commander';
import { ClusterStateRepo } from '../cluster/repo.js';
import { verifyCluster } from '../stream/verify.js';
import { openStateStore } from '../wiring.js';
import { objectStoreFor } from './agent.js';
import { ExitCode, runCommand, withConfigOption } from './command.js';

/** `squirrel verify`: is everything the durable position promises in the object store, intact? */
export function register(program: Command): void {
  withConfigOption(program.command('verify'))
    .description('check every chunk up to the durable position: continuity, SHA-256, CRC32 of every event')
    .option('--json', 'print {ok, checked, problems} as JSON')
    .action(async (opts: { config?: string; json?: boolean }) => {
      await runCommand(opts, ['clusterId', 'bucket', 'table', 'region'], async ({ config, out }) => {
        const stateStore = openStateStore(config);
        const state = await new ClusterStateRepo(stateStore, config.clusterId).read();
        if (!state) {
          const problem = { object: `cluster ${config.clusterId}`, message: `cluster ${config.clusterId} has no state in table ${config.table}` };
          out(opts.json ? JSON.stringify({ ok: false, checked: { epochs: 0, chunks: 0, bytes: 0, events: 0 }, problems: [problem], strays: [], warnings: [], durable: null }) : problem.message);
          return ExitCode.failed;
        }
        const report = await verifyCluster(objectStoreFor(config), stateStore, config.prefix ?? '', state);
        if (opts.json) {
          out(JSON.stringify(report));
        } else {
          const c = report.checked;
          out(`${report.ok ? 'ok' : 'NOT OK'}: ${c.chunks} chunks, ${c.bytes} bytes, ${c.events} events in ${c.epochs} epoch(s) up to ${state.durable ? `${state.durable.file}:${state.durable.end} (GTID position ${state.durable.gtid || 'empty'})` : 'nothing durable yet'}`);
          for (const p of report.problems) out(`  problem: ${p.object}: ${p.message}`);
          if (report.strays.length > 0) out(`  ${report.strays.length} object(s) past the durable position or an epoch's handover (not promised, ignored)`);
          for (const w of report.warnings) out(`  warning: ${w}`);
        }
        return report.ok ? ExitCode.ok : ExitCode.failed;
      });
    });
}
