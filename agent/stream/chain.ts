import { parseChunkKey, type ChunkKey } from '../keys.js';
import { handoverOf, type ClusterState, type DurablePosition, type TimelineStart } from '../cluster/repo.js';

export interface ChunkRef extends ChunkKey {
  key: string;
}

export interface ChainProblem {
  /** The object the problem is about, or where the missing object should be. */
  object: string;
  message: string;
}

export interface Chain {
  /** The chunks that make up the timeline up to the durable position, in order. */
  chunks: ChunkRef[];
  /** Objects past the durable position or off the chain: never promised, not used by a restore. */
  strays: ChunkRef[];
  problems: ChainProblem[];
  /**
   * Set when an older epoch has no recorded handover (a cluster claimed before handovers were
   * recorded): its chain was read to its newest chunk, as before, which may hold chunks that were
   * never promised. Readers say so.
   */
  warning?: string;
}

/** `mariadb-bin.000042` -> 42; files of one server sort by this number. */
export function fileIndex(file: string): number | undefined {
  const m = /\.(\d+)$/.exec(file);
  return m ? Number(m[1]) : undefined;
}

/**
 * Works out the chain of one epoch's chunks that the durable position promises: one chunk per
 * seq from 1 to the durable seq, found by walking back from the durable key (so a stray object
 * left by a crash, with the same seq but another range, cannot be taken for the real one), and
 * checked for continuity: each chunk starts where the previous ended, or at the start of the next
 * file after the previous one ended its file. Pure: keys in, chain and problems out.
 *
 * `opts.endsFile(ref)` tells whether a chunk's last event is a ROTATE or STOP; the caller knows it
 * from the chunk's bytes. Without it, a file switch is accepted when the file number goes up by one.
 */
export function buildChain(
  keys: readonly string[],
  epoch: number,
  start: TimelineStart,
  durable: DurablePosition | null,
  opts: {
    endsFile?: (ref: ChunkRef) => boolean;
    /** Chunks through this seq were pruned on purpose (a prune marker): the chain begins after it. */
    prunedThroughSeq?: number;
  } = {},
): Chain {
  const { endsFile } = opts;
  const pruned = opts.prunedThroughSeq ?? 0;
  const refs = keys.map((key) => ({ key, ...parseChunkKey(key) })).filter((r): r is ChunkRef => r.epoch === epoch);
  const problems: ChainProblem[] = [];
  const durableSeq = durable && durable.epoch === epoch ? durable.seq : 0;
  const bySeq = new Map<number, ChunkRef[]>();
  for (const r of refs) bySeq.set(r.seq, [...(bySeq.get(r.seq) ?? []), r]);

  const chain: ChunkRef[] = [];
  if (durableSeq > 0) {
    const last = refs.find((r) => r.key === durable!.key);
    if (!last) {
      problems.push({ object: durable!.key, message: `durable position names ${durable!.key}, which is not in the object store` });
    } else {
      chain.unshift(last);
      for (let seq = durableSeq - 1; seq > pruned; seq--) {
        const next = chain[0]!;
        const candidates = bySeq.get(seq) ?? [];
        const found =
          candidates.find((c) => c.file === next.file && c.end === next.start) ??
          (next.start === 4 ? candidates.find((c) => c.file !== next.file) : undefined);
        if (!found) {
          const where = next.start === 4 ? `the end of the file before ${next.file}` : `${next.file}:${next.start}`;
          problems.push({
            object: `seq ${seq}`,
            message: candidates.length === 0 ? `chunk seq ${seq} is missing (it should end at ${where})` : `no chunk with seq ${seq} ends at ${where} (gap or overlap)`,
          });
          break;
        }
        chain.unshift(found);
      }
    }
  }
  if (problems.length === 0 && chain.length > 0) {
    const first = chain[0]!;
    if (pruned === 0 && (first.file !== start.file || first.start !== start.pos)) {
      problems.push({ object: first.key, message: `the epoch starts at ${start.file}:${start.pos} but its first chunk starts at ${first.file}:${first.start}` });
    }
    for (let i = 1; i < chain.length; i++) {
      const prev = chain[i - 1]!;
      const cur = chain[i]!;
      if (cur.file === prev.file) continue; // contiguity within a file was established by the walk
      const ended = endsFile ? endsFile(prev) : fileIndex(cur.file) === (fileIndex(prev.file) ?? NaN) + 1;
      if (!ended) problems.push({ object: cur.key, message: `${cur.file} begins after ${prev.key}, which does not end its file` });
    }
  }
  const inChain = new Set(chain.map((c) => c.key));
  const strays = refs.filter((r) => !inChain.has(r.key) && r.seq > pruned);
  return { chunks: chain, strays, problems };
}

/**
 * The chain of one epoch that is promised: the current epoch up to the durable position, an
 * older one (fenced by the next) up to its handover, the durable position its successor's claim
 * recorded. Objects of an older epoch past the handover (uploads that landed after the last
 * advance, or around one that never landed) are strays: never used, and no reason to refuse.
 * An older epoch without a recorded handover (claimed before handovers existed) is read as
 * before, to its newest chunk, and the chain carries a warning. Pure; what verify, restore and the
 * fake primary all build on. `keys` may hold any epochs' keys.
 */
export function promisedChain(
  keys: readonly string[],
  epoch: number,
  state: Pick<ClusterState, 'epoch' | 'durable' | 'handovers'>,
  start: TimelineStart,
  prunedThroughSeq = 0,
): Chain {
  let durable: DurablePosition | null;
  let warning: string | undefined;
  const handover = epoch < state.epoch ? handoverOf(state, epoch) : undefined;
  if (epoch === state.epoch) {
    durable = state.durable && state.durable.epoch === epoch ? state.durable : null;
  } else if (handover) {
    durable = handover.durable && handover.durable.epoch === epoch ? handover.durable : null;
  } else {
    let last: ChunkRef | undefined;
    for (const key of keys) {
      const ref = parseChunkKey(key);
      if (ref && ref.epoch === epoch && (!last || ref.seq > last.seq || (ref.seq === last.seq && key > last.key))) last = { key, ...ref };
    }
    durable = last ? { epoch, seq: last.seq, key: last.key, file: last.file, end: last.end, gtid: '', at: '' } : null;
    warning = `epoch ${epoch} has no recorded handover (claimed before handovers were recorded): it is read to its newest chunk, which may not have been promised`;
  }
  const chain = buildChain(keys, epoch, start, durable, { prunedThroughSeq });
  return warning ? { ...chain, warning } : chain;
}
