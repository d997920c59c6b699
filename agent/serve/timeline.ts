/**
 * What the fake primary can serve: every epoch's chain of chunks (stream/chain.ts) up to what is
 * promised, cut into segments of one binlog file each, oldest first. A pure function of the state
 * item, the epochs' timeline starts and the chunk keys, plus the one loader that reads them.
 *
 * As in `squirrel verify`, the current epoch is promised up to its durable position and an older
 * one up to its handover (to its last chunk, with a warning, when none was recorded: chain.ts).
 */
import { binlogPrefix, clusterPk, epochSk } from '../keys.js';
import type { ObjectStore } from '../ports/object-store.js';
import type { StateStore } from '../ports/state-store.js';
import { readPruneMarkers } from '../retention/prune-marker.js';
import { promisedChain, type ChainProblem, type ChunkRef } from '../stream/chain.js';
import { ClusterStateRepo, type ClusterState, type TimelineStart } from '../cluster/repo.js';

/** Consecutive chunks of one binlog file within one epoch. */
export interface Segment {
  epoch: number;
  file: string;
  /** In stream order; each starts where the previous ended. The first starts at 4 unless the epoch began mid-file. */
  chunks: ChunkRef[];
}

export interface Timeline {
  segments: Segment[];
  /** Gaps and missing objects: nothing at or past the first one can be served. */
  problems: ChainProblem[];
  /** Older epochs read without a recorded handover (chain.ts), said once by the fake primary. */
  warnings?: string[];
}

export interface TimelineInput {
  state: ClusterState;
  /** Where each epoch began (history items; the current epoch's start from the state item). */
  starts: ReadonlyMap<number, TimelineStart>;
  /** Chunk keys under the cluster's binlog prefix, any order. */
  keys: readonly string[];
  /** Per epoch, the seq through which chunks were pruned on purpose (prune markers). */
  prunedThrough?: ReadonlyMap<number, number>;
}

/** Segments of every epoch up to what is promised. */
export function planTimeline(input: TimelineInput): Timeline {
  const { state } = input;
  const segments: Segment[] = [];
  const problems: ChainProblem[] = [];
  const warnings: string[] = [];
  for (let epoch = 1; epoch <= state.epoch; epoch++) {
    const start = input.starts.get(epoch);
    if (!start) {
      problems.push({ object: `${clusterPk(state.clusterId)}/${epochSk(epoch)}`, message: `history item of epoch ${epoch} is missing` });
      break;
    }
    const chain = promisedChain(input.keys, epoch, state, start, input.prunedThrough?.get(epoch) ?? 0);
    if (chain.warning) warnings.push(chain.warning);
    if (chain.problems.length > 0) {
      problems.push(...chain.problems);
      break;
    }
    for (const ref of chain.chunks) {
      const tail = segments[segments.length - 1];
      if (tail && tail.epoch === epoch && tail.file === ref.file) tail.chunks.push(ref);
      else segments.push({ epoch, file: ref.file, chunks: [ref] });
    }
  }
  return { segments, problems, ...(warnings.length > 0 ? { warnings } : {}) };
}

/** Reads what planTimeline needs. Undefined when the cluster has no state item. */
export async function readTimelineInput(objects: ObjectStore, stateStore: StateStore, prefix: string, clusterId: string): Promise<TimelineInput | undefined> {
  const history = await new ClusterStateRepo(stateStore, clusterId).readHistory();
  if (!history) return undefined;
  const { state, starts } = history;
  const keys: string[] = [];
  for await (const o of objects.list(binlogPrefix(prefix, clusterId))) keys.push(o.key);
  return { state, starts, keys, prunedThrough: await readPruneMarkers(objects, prefix, clusterId) };
}
