import mysql from 'mysql2/promise';
import { parseMysqlUrl } from '../config.js';
import { ServerConfigError } from '../errors.js';
import { connectionFailure } from '../preflight.js';
import { formatMariaGtidList, parseMariaGtidList, type MariaGtid } from '../protocol/gtid.js';
import { RELAXED_FOR_REPLAY } from './replay-server.js';

/** One thing `promote` did, for the operator. */
export interface PromoteStep {
  action: string;
  detail: string;
}

/** Per domain, the later of two GTID positions. */
function merge(a: readonly MariaGtid[], b: readonly MariaGtid[]): MariaGtid[] {
  const out = new Map<number, MariaGtid>();
  for (const g of [...a, ...b]) {
    const have = out.get(g.domainId);
    if (!have || g.seqNo > have.seqNo) out.set(g.domainId, g);
  }
  return [...out.values()].sort((x, y) => x.domainId - y.domainId);
}

/**
 * Makes a restored server a primary: stops and forgets replication (the fake primary it replayed
 * from), makes its binlog continue after everything it applied (so its own transactions get the
 * next GTIDs, not ones already used), turns read_only off, and puts back every setting the replay
 * relaxed (replay-server.ts RELAXED_FOR_REPLAY) plus gtid_strict_mode=ON. A startup-only setting
 * still relaxed (innodb_doublewrite=0: the replay server itself, not the one a restore hands over)
 * is refused before anything changes: it needs a restart. Claiming a new epoch is the control
 * plane's part, not this.
 */
export async function promote(url: string): Promise<PromoteStep[]> {
  const target = parseMysqlUrl(url);
  let conn: mysql.Connection;
  try {
    conn = await mysql.createConnection({ ...target, connectTimeout: 10_000 });
  } catch (err) {
    throw connectionFailure(err, target);
  }
  const steps: PromoteStep[] = [];
  const one = async <T>(sql: string): Promise<T | undefined> => ((await conn.query(sql))[0] as T[])[0];
  try {
    const startupOnly = RELAXED_FOR_REPLAY.filter((r) => !r.dynamic);
    const now = (await one<Record<string, unknown>>(`SELECT ${startupOnly.map((r) => `@@global.${r.name} AS ${r.name}`).join(', ')}`))!;
    const stillRelaxed = startupOnly.filter((r) => Number(now[r.name]) !== r.durable);
    if (stillRelaxed.length > 0) {
      throw new ServerConfigError(`${target.host}:${target.port}`, stillRelaxed.map((r) => `${r.name}=${String(now[r.name])}, settable only at startup (must be ${r.durable})`), {
        hint: `Restart the server with ${stillRelaxed.map((r) => `--${r.name.replace(/_/g, '-')}=${r.durable}`).join(' ')} and promote again; \`squirrel restore --start\` starts the restored server so.`,
      });
    }
    const replica = await one<{ Master_Host: string; Master_Port: number }>('SHOW SLAVE STATUS');
    if (replica) {
      await conn.query('STOP SLAVE');
      await conn.query('RESET SLAVE ALL');
      steps.push({ action: 'replication', detail: `stopped and removed (it replicated from ${replica.Master_Host}:${replica.Master_Port})` });
    } else {
      steps.push({ action: 'replication', detail: 'none configured' });
    }
    const gtids = (await one<{ slave: string; binlog: string }>('SELECT @@global.gtid_slave_pos AS slave, @@global.gtid_binlog_pos AS binlog'))!;
    const applied = merge(gtids.slave ? parseMariaGtidList(gtids.slave) : [], []);
    const binlog = gtids.binlog ? parseMariaGtidList(gtids.binlog) : [];
    const merged = merge(applied, binlog);
    if (formatMariaGtidList(merged) !== formatMariaGtidList(binlog)) {
      // the replayed transactions were applied, not binlogged here: start the binlog after them
      await conn.query('RESET MASTER');
      await conn.query(`SET GLOBAL gtid_binlog_state = '${formatMariaGtidList(merged)}'`);
      steps.push({ action: 'binlog', detail: `reset; GTID state set to ${formatMariaGtidList(merged)} so new transactions continue after it` });
    } else {
      steps.push({ action: 'binlog', detail: `continues at GTID ${gtids.binlog || '(empty)'}` });
    }
    await conn.query('SET GLOBAL gtid_slave_pos = ?', [formatMariaGtidList(merged)]);
    const durable = [...RELAXED_FOR_REPLAY.filter((r) => r.dynamic).map((r) => `${r.name}=${r.durable}`), 'gtid_strict_mode=ON'];
    await conn.query(`SET ${durable.map((d) => `GLOBAL ${d.replace('=', ' = ')}`).join(', ')}`);
    steps.push({ action: 'durability', detail: [...durable, ...startupOnly.map((r) => `${r.name}=${r.durable} (startup)`)].join(', ') });
    await conn.query('SET GLOBAL read_only = OFF');
    steps.push({ action: 'writes', detail: 'read_only OFF: the server accepts writes' });
    return steps;
  } finally {
    await conn.end().catch(() => conn.destroy());
  }
}
