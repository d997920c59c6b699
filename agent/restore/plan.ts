import { compareFilePos } from '../backup/binlog-order.js';
import type { BackupManifest } from '../backup/manifest.js';
import { RestoreRefusedError } from '../errors.js';
import { formatMariaGtidList, parseMariaGtid, parseMariaGtidList, type MariaGtid } from '../protocol/gtid.js';
import { promisedChain } from '../stream/chain.js';
import type { ClusterState, DurablePosition, TimelineStart } from '../stream/cluster-state.js';
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
  /** The GTID position replay is expected to end at ('' when nothing is replayed). For `time`, an upper bound. */
  targetGtid: string;
  durable: DurablePosition | null;
  bytes: { backup: number; chunks: number };
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

/** The chain each epoch promises (the current one up to the durable position; older ones to their last chunk). */
function chainsByEpoch(input: PlanInput): Map<number, ChunkInfo[]> {
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
    const problem = chain.problems[0];
    if (problem) {
      refuse(problem.object, problem.message, 'The object store holds less than the durable position promises. Run `squirrel verify`; restore to an earlier target (time: or gtid:) before the damage, or restore from another copy of the bucket.');
    }
    out.set(epoch, chain.chunks.map((c) => byKey.get(c.key)!));
  }
  return out;
}

/** Whether `gtid` (one domain) is at or before the target position in that domain (true when the target does not name it). */
function withinGtidTarget(list: readonly MariaGtid[], gtids: readonly MariaGtid[]): boolean {
  return list.every((g) => {
    const t = gtids.find((x) => x.domainId === g.domainId);
    return !t || g.seqNo <= t.seqNo;
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
    return withinGtidTarget(list, target.list);
  }
  return true;
}

export function planRestore(input: PlanInput): RestorePlan {
  const { target, state } = input;
  const chains = chainsByEpoch(input);
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
  if (target.kind === 'time') {
    const lastCommitSec = Math.floor(target.atMs / 1000);
    stop = { kind: 'time', lastCommitSec };
    const cut = chunks.findIndex((c) => c.lastTs > lastCommitSec);
    if (cut >= 0) chunks = chunks.slice(0, cut + 1);
    targetGtid = chunks.length > 0 ? chunks[chunks.length - 1]!.lastGtid : backup.binlog.gtid;
  } else if (target.kind === 'gtid') {
    stop = { kind: 'gtid', gtids: target.list };
    const reached = new Set<number>(
      target.list.filter((t) => parseMariaGtidList(backup.binlog.gtid).some((g) => g.domainId === t.domainId && g.seqNo >= t.seqNo)).map((t) => t.domainId),
    );
    let cut = -1;
    for (let i = 0; i < chunks.length && reached.size < target.list.length; i++) {
      for (const g of [gtidOrUndefined(chunks[i]!.firstGtid), gtidOrUndefined(chunks[i]!.lastGtid)]) {
        const t = g && target.list.find((x) => x.domainId === g.domainId);
        if (t && g.seqNo >= t.seqNo) reached.add(t.domainId);
      }
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
    targetGtid = formatMariaGtidList(target.list);
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
    durable: state.durable,
    bytes: { backup: backup.object.sizeBytes, chunks: chunks.reduce((n, c) => n + c.sizeBytes, 0) + (header ? header.sizeBytes : 0) },
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
    `stop:         ${plan.stop.kind === 'end' ? `at the durable position ${plan.durable ? `${plan.durable.file}:${plan.durable.end}` : ''}` : plan.stop.kind === 'time' ? `before the first commit stamped after ${new Date(plan.stop.lastCommitSec * 1000).toISOString()}` : `after GTID ${formatMariaGtidList(plan.stop.gtids)}`}`,
    `target GTID:  ${plan.targetGtid || 'none'}${plan.target.kind === 'time' ? ' (at most)' : ''}`,
    `total bytes:  ${plan.bytes.backup + plan.bytes.chunks}`,
  ];
}
