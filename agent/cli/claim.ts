import type { Command } from 'commander';
import { ClusterStateRepo, defaultLeaseMarginMs, type ClusterState, type PrimaryIdentity } from '../cluster/repo.js';
import { describePrimary } from '../cluster/state.js';
import { LeaseLiveError } from '../errors.js';
import { sleep } from '../retry.js';
import { openStateStore } from '../wiring.js';
import { ExitCode, runCommand, withConfigOption } from './command.js';

interface ClaimOptions {
  config?: string;
  host: string;
  port: string;
  instanceId?: string;
  from?: string;
  wait?: boolean;
  force?: boolean;
  json?: boolean;
}

/** The handover line: where the fenced epoch's promise ends. */
function describeHandover(state: ClusterState, from: number): string {
  const h = state.handovers?.find((x) => x.epoch === from);
  if (!h?.durable) return `epoch ${from} made nothing durable; the cluster's durable position stays ${state.durable ? `${state.durable.file}:${state.durable.end} (epoch ${state.durable.epoch}, GTID ${state.durable.gtid || 'none'})` : 'empty'}`;
  const d = h.durable;
  return `epoch ${from} ends at seq ${d.seq}, ${d.file}:${d.end}, GTID ${d.gtid || 'none'} (${d.key})`;
}

/**
 * `squirrel claim`: claims the next epoch for a named server (the replacement), fencing the
 * current primary: its agent can advance nothing more and fences its server. The epoch waits,
 * `startPending`, until `squirrel promote` on that server records where it begins. A live lease
 * (the old agent may still be streaming) is refused unless `--wait` (wait out its expiry plus
 * the margin) or `--force` (the old primary is known stopped).
 */
export function register(program: Command): void {
  withConfigOption(program.command('claim'))
    .description('claim the next epoch of the cluster for a server (a failover: fences the current primary); then restore onto that server and promote it')
    .requiredOption('--host <host>', 'the server the epoch is for, as its agent and `squirrel promote` reach it')
    .requiredOption('--port <port>', 'its MariaDB port')
    .option('--instance-id <id>', 'its instance id (EC2); names the server together with the port, whatever host reaches it')
    .option('--from <epoch>', 'the epoch to fence (default: the current one); a claim from an older epoch is refused')
    .option('--wait', 'wait out a live lease of the current primary\'s agent (its expiry plus the margin) instead of refusing')
    .option('--force', 'claim without waiting out a live lease: only when the old primary is known stopped (its agent is fenced by the claim alone)')
    .option('--json', 'print the claim as JSON')
    .action(async (opts: ClaimOptions) => {
      await runCommand(opts, ['clusterId', 'table', 'region'], async ({ config, log, out }) => {
        const port = Number(opts.port);
        if (!Number.isInteger(port) || port < 1 || port > 65535) {
          process.stderr.write(`squirrel: --port must be a TCP port (1-65535), got "${opts.port}"\n`);
          return ExitCode.usage;
        }
        const fromGiven = opts.from === undefined ? undefined : Number(opts.from);
        if (fromGiven !== undefined && !(Number.isInteger(fromGiven) && fromGiven >= 1)) {
          process.stderr.write(`squirrel: --from must be an epoch number (1 or more), got "${opts.from}"\n`);
          return ExitCode.usage;
        }
        const primary: PrimaryIdentity = { ...(opts.instanceId ? { instanceId: opts.instanceId } : {}), host: opts.host, port };
        const repo = new ClusterStateRepo(openStateStore(config), config.clusterId);
        const current = await repo.read();
        if (!current) {
          process.stderr.write(`squirrel: cluster ${config.clusterId} has no state in table ${config.table}: there is no epoch to claim after (the first agent claims epoch 1)\n`);
          return ExitCode.failed;
        }
        const from = fromGiven ?? current.epoch;
        if (opts.force) {
          const live = current.leaseHolder && current.leaseExpiresAt > Date.now() - defaultLeaseMarginMs;
          const line = `WARNING: --force: claiming epoch ${from + 1} without waiting out the lease${live ? ` of ${current.leaseHolder} (live until ${new Date(current.leaseExpiresAt).toISOString()})` : ''}: the old primary must be known stopped, or it may still take writes that no restore keeps`;
          process.stderr.write(`squirrel: ${line}\n`);
          log.warn({ clusterId: config.clusterId, epoch: from + 1 }, line);
        }
        let claimed: ClusterState | undefined;
        let waitLogged = false;
        while (!claimed) {
          try {
            claimed = await repo.claimNextEpoch(from, undefined, Date.now(), { primary, force: !!opts.force, leaseMarginMs: defaultLeaseMarginMs });
          } catch (err) {
            if (!(err instanceof LeaseLiveError) || !opts.wait) throw err;
            if (!waitLogged) {
              process.stderr.write(`squirrel: waiting: ${err.message}\n`);
              waitLogged = true;
            }
            await sleep(Math.min(5_000, Math.max(100, err.expiresAt + err.marginMs - Date.now() + 50)));
          }
        }
        const handover = claimed.handovers?.find((h) => h.epoch === from);
        if (opts.json) {
          out(JSON.stringify({ clusterId: config.clusterId, epoch: claimed.epoch, from, primary, startPending: !!claimed.startPending, handover: handover ?? null, durable: claimed.durable, forced: !!opts.force }));
          return ExitCode.ok;
        }
        out(`claimed epoch ${claimed.epoch} of cluster ${config.clusterId} for ${describePrimary(primary)}; epoch ${from} is fenced`);
        out(`handover: ${describeHandover(claimed, from)}`);
        out(`next: restore onto ${describePrimary(primary)} (\`squirrel restore --target latest --datadir DIR --start\`), then run \`squirrel promote\` there: it records where epoch ${claimed.epoch} begins, and the server's agent joins it`);
        return ExitCode.ok;
      });
    });
}
