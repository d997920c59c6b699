import type { Command } from 'commander';
import { ConfigError } from '../errors.js';
import { DEFAULT_SERVE_SERVER_ID, startFakePrimary, type ServeUntil } from '../serve/fake-primary.js';
import { openStateStore } from '../wiring.js';
import { objectStoreFor } from './agent.js';
import { ExitCode, runCommand, withConfigOption } from './command.js';

const required = ['clusterId', 'bucket', 'table', 'region', 'serveUser', 'servePassword'] as const;

/** `--until latest|gtid:<pos>` */
export function parseUntilOption(value: string): ServeUntil {
  if (value === 'latest') return 'latest';
  const m = /^gtid:(.+)$/.exec(value);
  if (m) return { gtid: m[1]! };
  throw new ConfigError([{ key: '--until', value, expected: '"latest" or "gtid:<domain-server-seq[,...]>"' }]);
}

function positiveInt(key: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError([{ key, value, expected: `an integer from ${min} to ${max}` }]);
  return n;
}

/**
 * `squirrel serve`: the fake primary. Replicas (CHANGE MASTER TO ... MASTER_USE_GTID=slave_pos) and
 * `mariadb-binlog --read-from-remote-server` connect to it with SQUIRREL_SERVE_USER /
 * SQUIRREL_SERVE_PASSWORD and receive the binlog from the object store. Runs until SIGINT/SIGTERM.
 */
export function register(program: Command): void {
  withConfigOption(program.command('serve'))
    .description('serve the binlog from S3 over the replication protocol (a fake primary for replicas and mariadb-binlog)')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'TCP port to listen on', '3307')
    .option('--until <where>', '"latest" (the durable position when a replica starts its dump) or "gtid:<domain-server-seq[,...]>"', 'latest')
    .option('--follow', 'keep serving new chunks as the durable position moves (not with --until gtid:)')
    .option('--read-ahead <chunks>', 'chunks fetched ahead of the one being sent, per replica', '8')
    .option('--server-id <id>', 'server_id the fake primary announces; must differ from every replica\'s', String(DEFAULT_SERVE_SERVER_ID))
    .action(async (opts: { config?: string; host: string; port: string; until: string; follow?: boolean; readAhead: string; serverId: string }) => {
      await runCommand(opts, required, async ({ config, log }) => {
        const primary = await startFakePrimary({
          objects: objectStoreFor(config),
          stateStore: openStateStore(config),
          prefix: config.prefix ?? '',
          clusterId: config.clusterId,
          user: config.serveUser,
          password: config.servePassword,
          host: opts.host,
          port: positiveInt('--port', opts.port, 0, 65535),
          serverId: positiveInt('--server-id', opts.serverId, 1, 4294967295),
          until: parseUntilOption(opts.until),
          follow: opts.follow ?? false,
          readAheadChunks: positiveInt('--read-ahead', opts.readAhead, 1, 1024),
          log,
        });
        process.stdout.write(`serving cluster ${config.clusterId} on ${primary.host}:${primary.port} (server_id ${primary.serverId})\n`);
        const stop = () => {
          log.info('stopping the fake primary');
          void primary.stop();
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        await primary.done;
        return ExitCode.ok;
      });
    });
}
