import mysql from 'mysql2/promise';
import { parseMysqlUrl } from '../config.js';
import { connectionFailure } from '../preflight.js';
import { formatMariaGtidList, parseMariaGtidList, type MariaGtid } from '../protocol/gtid.js';

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
 * next GTIDs, not ones already used), turns read_only off, and restores the durable settings
 * (sync_binlog=1, innodb_flush_log_at_trx_commit=1, gtid_strict_mode=ON). Claiming a new epoch is
 * the control plane's part, not this.
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
    await conn.query('SET GLOBAL gtid_strict_mode = ON, GLOBAL sync_binlog = 1, GLOBAL innodb_flush_log_at_trx_commit = 1');
    steps.push({ action: 'durability', detail: 'sync_binlog=1, innodb_flush_log_at_trx_commit=1, gtid_strict_mode=ON' });
    await conn.query('SET GLOBAL read_only = OFF');
    steps.push({ action: 'writes', detail: 'read_only OFF: the server accepts writes' });
    return steps;
  } finally {
    await conn.end().catch(() => conn.destroy());
  }
}
