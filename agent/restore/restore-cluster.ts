import { objectStoreFor } from '../cli/agent.js';
import { defaults, type Config } from '../config.js';
import type { Logger } from '../log.js';
import { openStateStore } from '../wiring.js';
import { restore, type RestoreOptions, type RestoreResult } from './restore.js';
import type { RestoreTarget } from './target.js';

/**
 * The demo's and the CLI's entry point: restores cluster `config.clusterId` to `target` into
 * `datadir`, with the stores the configuration names. Returns the counts.
 */
export async function restoreCluster(
  config: Partial<Config> & Pick<Config, 'clusterId' | 'mysqlUrl' | 'bucket' | 'table' | 'region'>,
  target: RestoreTarget,
  datadir: string,
  opts: RestoreOptions & { log: Logger; out?: (line: string) => void },
): Promise<RestoreResult> {
  return restore(
    {
      objects: objectStoreFor(config),
      stateStore: openStateStore(config),
      prefix: config.prefix ?? (defaults.prefix as string),
      clusterId: config.clusterId,
      mysqlUrl: config.mysqlUrl,
      log: opts.log,
      ...(opts.out ? { out: opts.out } : {}),
    },
    target,
    datadir,
    opts,
  );
}
