import mysql from 'mysql2/promise';
import type { ClusterStateRepo } from '../cluster/repo.js';
import type { ClusterState, PrimaryIdentity, TimelineStart } from '../cluster/state.js';
import { parseMysqlUrl } from '../config.js';
import { FencedError, NotPrimaryError, PromoteRefusedError, ServerConfigError, TimelineStartedError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { connectionFailure } from '../preflight.js';
import { formatMariaGtidList, parseMariaGtidList, type MariaGtid } from '../protocol/gtid.js';
import { checkPromote, claimedEpochFor, type PromoteRefusal } from './promote-checks.js';
import { RELAXED_FOR_REPLAY } from './replay-server.js';

/** One thing `promote` did, for the operator. */
export interface PromoteStep {
  action: string;
  detail: string;
  /** On the `epoch` step: the epoch whose timeline start promote recorded (absent when it recorded none). */
  timeline?: { epoch: number; start: TimelineStart };
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

export interface PromoteOptions {
  /**
   * The cluster the server is promoted into, and this server as a claim names it. Undefined: no
   * cluster configuration; promote then refuses unless `force`.
   */
  cluster?: { repo: ClusterStateRepo; identity: PrimaryIdentity };
  /** The GTID position the restore reached (a time or GTID restore prints it). @default the cluster's durable position */
  targetGtid?: string;
  /** Promote despite every refusal (each is warned about, loudly). */
  force?: boolean;
  log?: Logger;
  /** Where the loud warnings of `force` go besides the log (the CLI: stderr). */
  warn?: (line: string) => void;
  /** @default Date.now */
  now?: () => number;
}

/**
 * Makes a restored server a primary: checks it may (promote-checks.ts), stops and forgets
 * replication (the fake primary it replayed from), makes its binlog continue after everything it
 * applied (so its own transactions get the next GTIDs, not ones already used), puts back every
 * setting the replay relaxed (replay-server.ts RELAXED_FOR_REPLAY) plus gtid_strict_mode=ON,
 * records where the claimed epoch's timeline begins, and turns read_only off.
 *
 * Refused before anything changes (PromoteRefusedError, every reason at once) unless the server
 * has applied exactly the restore target (`opts.targetGtid`, else the cluster's durable position)
 * and the cluster's current epoch is claimed, pending, for this server; `opts.force` promotes
 * anyway, warning about each. A startup-only setting still relaxed (innodb_doublewrite=0: the
 * replay server itself, not the one a restore hands over) is refused first, force or not: it
 * needs a restart.
 */
export async function promote(url: string, opts: PromoteOptions = {}): Promise<PromoteStep[]> {
  const log = opts.log ?? silentLogger;
  const now = opts.now ?? Date.now;
  const target = parseMysqlUrl(url);
  const serverName = `${target.user}@${target.host}:${target.port}`;
  let conn: mysql.Connection;
  try {
    conn = await mysql.createConnection({ ...target, connectTimeout: 10_000 });
  } catch (err) {
    throw connectionFailure(err, target);
  }
  const steps: PromoteStep[] = [];
  const one = async <T>(sql: string): Promise<T | undefined> => ((await conn.query(sql))[0] as T[])[0];
  const appliedPosition = async () => {
    const gtids = (await one<{ slave: string; binlog: string }>('SELECT @@global.gtid_slave_pos AS slave, @@global.gtid_binlog_pos AS binlog'))!;
    const binlog = gtids.binlog ? parseMariaGtidList(gtids.binlog) : [];
    return { merged: merge(gtids.slave ? parseMariaGtidList(gtids.slave) : [], binlog), binlog, binlogText: gtids.binlog };
  };
  const readState = async () => (opts.cluster ? await opts.cluster.repo.read() : undefined);
  const refusalsFor = (applied: string, state: ClusterState | undefined): PromoteRefusal[] =>
    checkPromote({
      server: serverName,
      applied,
      ...(opts.targetGtid !== undefined ? { targetGtid: opts.targetGtid } : {}),
      ...(opts.cluster ? { cluster: { clusterId: opts.cluster.repo.clusterId, state, identity: opts.cluster.identity } } : {}),
    });
  /** `closed`: the refusal comes after read_only was set and replication stopped (writes stay closed). */
  const refuseOrWarn = (refusals: PromoteRefusal[], closed = false) => {
    if (refusals.length === 0) return;
    if (!opts.force) {
      const changed = closed ? 'The server was left read-only with replication stopped; nothing else was changed.' : 'Nothing was changed.';
      throw new PromoteRefusedError(serverName, refusals.map((r) => r.reason), { hint: `${refusals.map((r) => r.fix).join(' ')} ${changed} --force promotes anyway, at the price of losing or forking the cluster's history.` });
    }
    for (const r of refusals) {
      const line = `WARNING: --force: promoting ${serverName} although ${r.reason}`;
      opts.warn?.(line);
      log.warn({ server: serverName, refusal: r.kind }, line);
    }
  };
  try {
    const startupOnly = RELAXED_FOR_REPLAY.filter((r) => !r.dynamic);
    const settings = (await one<Record<string, unknown>>(`SELECT ${startupOnly.map((r) => `@@global.${r.name} AS ${r.name}`).join(', ')}`))!;
    const stillRelaxed = startupOnly.filter((r) => Number(settings[r.name]) !== r.durable);
    if (stillRelaxed.length > 0) {
      throw new ServerConfigError(`${target.host}:${target.port}`, stillRelaxed.map((r) => `${r.name}=${String(settings[r.name])}, settable only at startup (must be ${r.durable})`), {
        hint: `Restart the server with ${stillRelaxed.map((r) => `--${r.name.replace(/_/g, '-')}=${r.durable}`).join(' ')} and promote again; \`squirrel restore --start\` starts the restored server so.`,
      });
    }
    // the checks, before anything changes
    const checked = formatMariaGtidList((await appliedPosition()).merged);
    let state = await readState();
    const refusals = refusalsFor(checked, state);
    refuseOrWarn(refusals);
    steps.push({
      action: 'checks',
      detail: refusals.length === 0 ? `applied ${checked || '(empty)'}, the target; epoch ${state!.epoch} is claimed for this server` : `forced past ${refusals.length} refusal(s): ${refusals.map((r) => r.kind).join(', ')}`,
    });

    // closed from here until the start is recorded (a restored server handed over starts read-only; one started otherwise may not be):
    // read_only holds back every client without the READ ONLY ADMIN privilege, applications' included
    await conn.query('SET GLOBAL read_only = ON');
    const replica = await one<{ Master_Host: string; Master_Port: number }>('SHOW SLAVE STATUS');
    if (replica) {
      await conn.query('STOP SLAVE');
      await conn.query('RESET SLAVE ALL');
      steps.push({ action: 'replication', detail: `stopped and removed (it replicated from ${replica.Master_Host}:${replica.Master_Port})` });
    } else {
      steps.push({ action: 'replication', detail: 'none configured' });
    }
    const { merged, binlog, binlogText } = await appliedPosition();
    // checked again now that nothing moves it: a running replica, or a client, may have applied
    // more between the first check and the stop
    if (!opts.force) refuseOrWarn(refusalsFor(formatMariaGtidList(merged), state), true);
    if (formatMariaGtidList(merged) !== formatMariaGtidList(binlog)) {
      // the replayed transactions were applied, not binlogged here: start the binlog after them
      await conn.query('RESET MASTER');
      await conn.query(`SET GLOBAL gtid_binlog_state = '${formatMariaGtidList(merged)}'`);
      steps.push({ action: 'binlog', detail: `reset; GTID state set to ${formatMariaGtidList(merged)} so new transactions continue after it` });
    } else {
      steps.push({ action: 'binlog', detail: `continues at GTID ${binlogText || '(empty)'}` });
    }
    await conn.query('SET GLOBAL gtid_slave_pos = ?', [formatMariaGtidList(merged)]);
    const durable = [...RELAXED_FOR_REPLAY.filter((r) => r.dynamic).map((r) => `${r.name}=${r.durable}`), 'gtid_strict_mode=ON'];
    await conn.query(`SET ${durable.map((d) => `GLOBAL ${d.replace('=', ' = ')}`).join(', ')}`);
    steps.push({ action: 'durability', detail: [...durable, ...startupOnly.map((r) => `${r.name}=${r.durable} (startup)`)].join(', ') });

    // The new epoch's timeline start is recorded while the server is read-only: every
    // transaction it takes once writes are open then lies after the start, so the agent streams
    // all of them. Recorded after opening writes, a first transaction could land before the
    // position read; and a crash between opening and recording would leave an open primary whose
    // agent cannot join. If recording fails (the epoch was claimed again meanwhile), writes stay
    // closed. The epoch begins on a fresh binlog file, at its first byte (a timeline that begins
    // mid-file is not restorable yet).
    state = await readState();
    // and with the claim as it is now (claimed again meanwhile?): writes are still closed
    if (!opts.force) refuseOrWarn(refusalsFor(formatMariaGtidList(merged), state), true);
    const epoch = opts.cluster && claimedEpochFor(state, opts.cluster.identity);
    if (opts.cluster && epoch !== undefined) {
      await conn.query('FLUSH BINARY LOGS');
      const status = (await one<{ File: string }>('SHOW MASTER STATUS'))!;
      const { binlogText: gtid } = await appliedPosition();
      const start: TimelineStart = { file: status.File, pos: 4, gtid };
      try {
        await opts.cluster.repo.beginTimeline(epoch, opts.cluster.identity, start, now());
        steps.push({ action: 'epoch', detail: `epoch ${epoch} of cluster ${opts.cluster.repo.clusterId} begins at ${start.file}:${start.pos} (GTID ${gtid || 'none'}): this server's agent can join it`, timeline: { epoch, start } });
      } catch (err) {
        if (!opts.force || !(err instanceof NotPrimaryError || err instanceof TimelineStartedError || err instanceof FencedError)) throw err;
        const line = `WARNING: --force: epoch ${epoch}'s start was not recorded (${err.message}): the agent cannot join until an epoch is claimed for this server and started`;
        opts.warn?.(line);
        log.warn({ server: serverName, epoch }, line);
        steps.push({ action: 'epoch', detail: `not started: ${err.message}` });
      }
    } else {
      // only a forced promotion gets here (the checks above refused it otherwise)
      const line = `WARNING: --force: no epoch is claimed for ${serverName}; its agent cannot join until an epoch is claimed for it (squirrel claim) and started`;
      opts.warn?.(line);
      log.warn({ server: serverName }, line);
      steps.push({ action: 'epoch', detail: 'none claimed for this server: its agent cannot join until an epoch is claimed and started' });
    }
    await conn.query('SET GLOBAL read_only = OFF');
    steps.push({ action: 'writes', detail: 'read_only OFF: the server accepts writes' });
    return steps;
  } finally {
    await conn.end().catch(() => conn.destroy());
  }
}
