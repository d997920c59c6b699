import mysql from 'mysql2/promise';
import type { Config } from '../config.js';
import { parseMysqlUrl } from '../config.js';
import { connectionFailure } from '../preflight.js';

/**
 * The primary's side of lossless mode, on a server an instance job owns: semi-sync master on,
 * waiting AFTER_SYNC (a commit is visible to nobody before the agent has made it durable), with a
 * timeout per mode. The agent's side (the semi-sync replica that replies only once the durable
 * position covers a commit) is agent/stream/acks.ts and streamer.ts.
 *
 * Set with SET GLOBAL, by the job, once the server's own setup writes are done (root's password,
 * a promotion's binlog reset) and before the agent starts: with `rpl_semi_sync_master_wait_no_slave`
 * ON, a commit made while no semi-sync replica is connected waits, so turned on earlier the job
 * would wait on itself; turned on later, the agent in strict mode refuses a primary without it.
 * A restored server replays without it (nothing may wait for a replica during replay) and gets it
 * at promotion. Not in the server's startup options: a server the job did not set up is never a
 * primary here (a server that dies ends its instance, which is replaced).
 */
export type LosslessMode = Exclude<Config['lossless'], 'off'>;

/**
 * How long a commit waits for the agent's acknowledgement before the primary falls back to
 * asynchronous commits (rpl_semi_sync_master_timeout, ms):
 * - `strict`: the variable's maximum (2^32 - 1 ms, 49.7 days): commits wait for the agent rather
 *   than fall back, so no acknowledged commit is ever outside the durable position; while the agent
 *   is down or restarting, commits wait;
 * - `best-effort`: MariaDB's own default, 10 s: longer than an agent restart by its supervisor
 *   (about 1 to 3 s), so a restart does not drop to asynchronous; an agent gone for longer stalls
 *   commits once for 10 s, then they go on asynchronously until it is back and caught up.
 */
export const SEMI_SYNC_TIMEOUT_MS: Readonly<Record<LosslessMode, number>> = { strict: 4_294_967_295, 'best-effort': 10_000 };

/** The global settings lossless mode puts on the primary, in the order they are set (enabled last). Pure. */
export function semiSyncSettings(mode: LosslessMode): [name: string, value: string | number][] {
  return [
    ['rpl_semi_sync_master_wait_point', 'AFTER_SYNC'],
    ['rpl_semi_sync_master_timeout', SEMI_SYNC_TIMEOUT_MS[mode]],
    // wait even while no semi-sync replica is connected (the agent restarting): the default, made explicit
    ['rpl_semi_sync_master_wait_no_slave', 'ON'],
    ['rpl_semi_sync_master_enabled', 'ON'],
  ];
}

/** Turns semi-sync master on at the server of `url` (root's) as `mode` needs; a line for the operator. */
export async function enableSemiSyncMaster(url: string, mode: LosslessMode): Promise<string> {
  const target = parseMysqlUrl(url);
  let conn: mysql.Connection;
  try {
    conn = await mysql.createConnection({ ...target, connectTimeout: 10_000 });
  } catch (err) {
    throw connectionFailure(err, target);
  }
  try {
    const settings = semiSyncSettings(mode);
    await conn.query(`SET ${settings.map(([name]) => `GLOBAL ${name} = ?`).join(', ')}`, settings.map(([, value]) => value));
    return `semi-sync master on (lossless ${mode}): ${settings.map(([name, value]) => `${name}=${value}`).join(', ')}`;
  } finally {
    await conn.end().catch(() => conn.destroy());
  }
}
