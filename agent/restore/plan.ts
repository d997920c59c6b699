import { compareFilePos } from '../backup/binlog-order.js';
import type { BackupManifest } from '../backup/manifest.js';
import { RestoreRefusedError } from '../errors.js';
import { describeDomains, GtidPosition } from '../binlog/gtid-position.js';
import { formatMariaGtid, formatMariaGtidList, parseMariaGtid, parseMariaGtidList, type MariaGtid } from '../protocol/gtid.js';
import { promisedChain } from '../stream/chain.js';
import type { ClusterState, DurablePosition, TimelineStart } from '../cluster/repo.js';
import { formatTarget, type RestoreTarget } from './target.js';

/**
 * The restore plan: which base backup, which chunks in which order, where replay starts and the
 * rule it stops by. A pure function of the manifests, the chunk list (with each chunk's metadata)
 * and the state item, so it can be printed (`--dry-run`) and tested by table before anything acts.
 *
 * Anything the durable position promises but the object store does not hold (a missing chunk, a
 * gap, the durable chunk itself) refuses the plan with RestoreRefusedError naming the object.
 */
export interface ChunkInfo {
  key: string;
  epoch: number;
  seq: number;
  file: string;
  start: number;
  end: number;
  sizeBytes: number;
  sha256: string;
  firstGtid: string;
  lastGtid: string;
  /** The whole GTID position at the chunk's end ('' when the chunk does not say: written by an older agent). */
  gtidPos: string;
  /** The server_ids in the chunk's events (empty when the chunk does not say). */
  serverIds: number[];
  /** Event timestamps, seconds. */
  firstTs: number;
  lastTs: number;
  encoding: string;
}

export interface PlanInput {
  target: RestoreTarget;
  state: ClusterState;
  /** Where each epoch's timeline begins (history items), by epoch. */
  starts: ReadonlyMap<number, TimelineStart>;
  /** Complete base backups (with manifests). */
  manifests: readonly BackupManifest[];
  /** Every chunk object listed, with its metadata. */
  chunks: readonly ChunkInfo[];
  /** Per epoch, the seq through which chunks were pruned on purpose (prune markers). */
  prunedThrough?: ReadonlyMap<number, number>;
}

/** How replay ends inside the planned chunks (it always ends at the last planned chunk). */
export type StopRule =
  | { kind: 'end' }
  /** Stop before the first transaction whose commit event is stamped after this second. */
  | { kind: 'time'; lastCommitSec: number }
  /** Stop before the first transaction of a listed domain with a higher seq; done once each is reached. */
  | { kind: 'gtid'; gtids: MariaGtid[] };

export interface RestorePlan {
  target: RestoreTarget;
  backup: BackupManifest;
  /** Replay starts here: the backup's consistency point. */
  from: { epoch: number; file: string; pos: number };
  /** The chunk holding the first events (FORMAT_DESCRIPTION...) of `from.file`, when replay starts mid-file. */
  header: ChunkInfo | undefined;
  /** Chunks to replay, in order; the first may begin before `from.pos` (its earlier bytes are skipped). */
  chunks: ChunkInfo[];
  stop: StopRule;
  /**
   * The whole GTID position replay ends at, every domain ('' when nothing is replayed). Exact for
   * `latest` and for a `gtid:` target naming every domain; otherwise (a time, or a `gtid:` target
   * naming fewer domains than the stream holds) an upper bound, resolved exactly while replaying.
   */
  targetGtid: string;
  targetExact: boolean;
  durable: DurablePosition | null;
  bytes: { backup: number; chunks: number };
  /** Worth saying before acting (an older epoch read without a recorded handover: chain.ts). */
  warnings?: string[];
}

function refuse(object: string, message: string, hint?: string): never {
  throw new RestoreRefusedError(object, message, hint ? { hint } : {});
}

const gtidOrUndefined = (text: string): MariaGtid | undefined => {
  try {
    return text ? parseMariaGtid(text) : undefined;
  } catch {
    return undefined; // MySQL uuid:n GTIDs are not ordered here; such chunks only use position/time rules
  }
};

/** The chain each epoch promises (the current one up to the durable position; older ones to their handover). */
function chainsByEpoch(input: PlanInput, warnings: string[]): Map<number, ChunkInfo[]> {
  const byKey = new Map(input.chunks.map((c) => [c.key, c]));
  const out = new Map<number, ChunkInfo[]>();
  for (let epoch = 1; epoch <= input.state.epoch; epoch++) {
    const start = input.starts.get(epoch) ?? (epoch === input.state.epoch ? input.state.start : undefined);
    const keys = input.chunks.filter((c) => c.epoch === epoch).map((c) => c.key).sort();
    if (!start) {
      if (keys.length > 0) refuse(`epoch ${epoch}`, `the history item of epoch ${epoch} is missing`);
      continue;
    }
    // below a prune marker, chunks are gone on purpose: the chain begins after it
    const chain = promisedChain(keys, epoch, input.state, start, input.prunedThrough?.get(epoch) ?? 0);
    if (chain.warning) warnings.push(chain.warning);
    const problem = chain.problems[0];
    if (problem) {
      refuse(problem.object, problem.message, 'The object store holds less than the durable position promises. Run `squirrel verify`; restore to an earlier target (time: or gtid:) before the damage, or restore from another copy of the bucket.');
    }
    out.set(epoch, chain.chunks.map((c) => byKey.get(c.key)!));
  }
  return out;
}

/** Whether `target` names every domain of `position`. */
function namesEvery(target: readonly MariaGtid[], position: readonly MariaGtid[]): boolean {
  return position.every((g) => target.some((t) => t.domainId === g.domainId));
}

/**
 * Whether a backup lies at or before a `gtid:` target's point. When the target names every domain
 * of the backup's position, per domain at or before it. When it names fewer, the point is just
 * after the named GTIDs, and a backup that already holds a named GTID may hold other domains'
 * transactions from after it: only a backup strictly before each named GTID is surely before the point.
 */
function backupBeforeGtidTarget(backup: readonly MariaGtid[], target: readonly MariaGtid[]): boolean {
  const whole = namesEvery(target, backup);
  return target.every((t) => {
    const b = backup.find((g) => g.domainId === t.domainId);
    return !b || (whole ? b.seqNo <= t.seqNo : b.seqNo < t.seqNo);
  });
}

function backupEligible(m: BackupManifest, target: RestoreTarget): boolean {
  if (target.kind === 'time') return Date.parse(m.consistentAt) <= target.atMs;
  if (target.kind === 'gtid') {
    let list: MariaGtid[];
    try {
      list = parseMariaGtidList(m.binlog.gtid);
    } catch {
      return false;
    }
    return backupBeforeGtidTarget(list, target.list);
  }
  return true;
}

/** Whether replay reaches every named GTID by the end of chunk `c` (its whole position when it has one). */
function chunkReaches(c: ChunkInfo, target: readonly MariaGtid[], reached: Set<number>): void {
  const position = c.gtidPos ? new GtidPosition(c.gtidPos).domains : [gtidOrUndefined(c.firstGtid), gtidOrUndefined(c.lastGtid)].filter((g): g is MariaGtid => !!g);
  for (const g of position) {
    const t = target.find((x) => x.domainId === g.domainId);
    if (t && g.seqNo >= t.seqNo) reached.add(t.domainId);
  }
}

export function planRestore(input: PlanInput): RestorePlan {
  const { target, state } = input;
  const warnings: string[] = [];
  const chains = chainsByEpoch(input, warnings);
  // a backup is usable when its position lies on its epoch's chain, and the chain holds the
  // start of its file (replay needs that file's FORMAT_DESCRIPTION)
  const usable = (m: BackupManifest): boolean => {
    const chain = chains.get(m.epoch);
    if (!chain || chain.length === 0) return false;
    const first = chain[0]!;
    const last = chain[chain.length - 1]!;
    const from = { file: m.binlog.file, pos: m.binlog.pos };
    if (compareFilePos(from, { file: first.file, pos: first.start }) < 0) return false;
    if (compareFilePos(from, { file: last.file, pos: last.end }) > 0) return false;
    return chain.some((c) => c.file === m.binlog.file && c.start === 4);
  };
  const candidates = input.manifests.filter((m) => usable(m) && backupEligible(m, target));
  candidates.sort((a, b) => a.epoch - b.epoch || compareFilePos({ file: a.binlog.file, pos: a.binlog.pos }, { file: b.binlog.file, pos: b.binlog.pos }) || (a.id < b.id ? -1 : 1));
  const backup = candidates[candidates.length - 1];
  if (!backup) {
    refuse(
      'base backups',
      `no complete base backup can reach target ${formatTarget(target)} (${input.manifests.length} complete backup(s) found)`,
      'A restore needs a base backup taken before the target whose binlog position is on the streamed chain. Take one with `squirrel backup` (with the agent running), or pick a later target.',
    );
  }

  const from = { epoch: backup.epoch, file: backup.binlog.file, pos: backup.binlog.pos };
  const backupChain = chains.get(backup.epoch)!;
  let chunks: ChunkInfo[] = backupChain.filter((c) => compareFilePos({ file: c.file, pos: c.end }, from) > 0);
  for (let e = backup.epoch + 1; e <= state.epoch; e++) chunks.push(...(chains.get(e) ?? []));
  const header = from.pos > 4 && !(chunks[0] && chunks[0].file === from.file && chunks[0].start === 4)
    ? backupChain.find((c) => c.file === from.file && c.start === 4)
    : undefined;

  let stop: StopRule = { kind: 'end' };
  let targetGtid = state.durable?.gtid ?? '';
  let targetExact = true;
  // the position at the end of the planned chunks: an upper bound of where a cut replay ends
  const endOf = (list: readonly ChunkInfo[]): string => {
    const at = new GtidPosition(backup.binlog.gtid);
    for (const c of list) {
      if (c.gtidPos) at.merge(c.gtidPos);
      else if (c.lastGtid) at.apply(c.lastGtid);
    }
    return at.text;
  };
  if (target.kind === 'time') {
    const lastCommitSec = Math.floor(target.atMs / 1000);
    stop = { kind: 'time', lastCommitSec };
    const cut = chunks.findIndex((c) => c.lastTs > lastCommitSec);
    if (cut >= 0) chunks = chunks.slice(0, cut + 1);
    targetGtid = endOf(chunks);
    targetExact = cut < 0 && chunks.length === 0;
  } else if (target.kind === 'gtid') {
    stop = { kind: 'gtid', gtids: target.list };
    const backupList = parseMariaGtidList(backup.binlog.gtid);
    const reached = new Set<number>(target.list.filter((t) => backupList.some((g) => g.domainId === t.domainId && g.seqNo >= t.seqNo)).map((t) => t.domainId));
    let cut = -1;
    for (let i = 0; i < chunks.length && reached.size < target.list.length; i++) {
      chunkReaches(chunks[i]!, target.list, reached);
      if (reached.size === target.list.length) cut = i;
    }
    if (reached.size < target.list.length) {
      const durableGtid = state.durable?.gtid ?? '';
      refuse(
        `gtid:${target.gtid}`,
        `the target is beyond the durable position (last durable GTID ${durableGtid || 'none'})`,
        'Only transactions inside the durable position can be restored; check `squirrel status` and pick a GTID at or before it.',
      );
    }
    if (cut >= 0) chunks = chunks.slice(0, cut + 1);
    // a target naming every domain the stream holds is itself the position; naming fewer, the
    // other domains end where the point falls, known exactly only once the chunks are read
    const known = new GtidPosition(backup.binlog.gtid);
    known.merge(state.durable?.gtid ?? '');
    targetExact = namesEvery(target.list, known.domains);
    const bound = new GtidPosition(targetExact ? '' : endOf(chunks));
    for (const t of target.list) bound.apply(formatMariaGtid(t));
    targetGtid = bound.text;
  }
  if (chunks.length === 0 && target.kind !== 'gtid') targetGtid = backup.binlog.gtid;

  return {
    target,
    backup,
    from,
    header,
    chunks,
    stop,
    targetGtid,
    targetExact,
    durable: state.durable,
    bytes: { backup: backup.object.sizeBytes, chunks: chunks.reduce((n, c) => n + c.sizeBytes, 0) + (header ? header.sizeBytes : 0) },
    ...(warnings.length > 0 ? { warnings } : {}),
  };
}

/** The plan as lines for a terminal (printed before a restore acts, and alone on --dry-run). */
export function describePlan(plan: RestorePlan): string[] {
  const b = plan.backup;
  const first = plan.chunks[0];
  const last = plan.chunks[plan.chunks.length - 1];
  return [
    `target:       ${formatTarget(plan.target)}`,
    `base backup:  ${b.id} (${b.kind}, ${b.object.sizeBytes} bytes, consistent at ${b.binlog.file}:${b.binlog.pos}, GTID ${b.binlog.gtid || 'none'}, ${b.consistentAt})`,
    `replay from:  epoch ${plan.from.epoch} ${plan.from.file}:${plan.from.pos}`,
    `chunks:       ${plan.chunks.length}${first && last ? ` (${first.key} .. ${last.key})` : ''}, ${plan.bytes.chunks} bytes`,
    `stop:         ${describeStop(plan)}`,
    `restores to:  ${plan.targetExact ? 'GTID position' : 'GTID position at most (exact once replayed)'} ${plan.targetGtid || 'none'}`,
    ...describeDomains(plan.targetGtid).map((line) => `  ${line}${plan.targetExact ? '' : ' (at most)'}`),
    `total bytes:  ${plan.bytes.backup + plan.bytes.chunks}`,
    ...(plan.warnings ?? []).map((w) => `warning:      ${w}`),
  ];
}

function describeStop(plan: RestorePlan): string {
  const stop = plan.stop;
  if (stop.kind === 'end') return `at the durable position ${plan.durable ? `${plan.durable.file}:${plan.durable.end}` : ''}`;
  if (stop.kind === 'time') return `before the first commit stamped after ${new Date(stop.lastCommitSec * 1000).toISOString()}`;
  const named = formatMariaGtidList(stop.gtids);
  return plan.targetExact
    ? `after GTID position ${named}`
    : `at the point just after ${named}: every transaction of every domain before it is restored; later ones of domain(s) ${stop.gtids.map((g) => g.domainId).join(', ')} are not`;
}
