import { INITIAL_FORMAT } from '../binlog/binlog-format.js';
import { BinlogParser } from '../binlog/event-parser.js';
import { EventType } from '../binlog/event-types.js';
import { ProtocolError } from '../errors.js';
import { binlogPrefix, clusterPk, epochSk } from '../keys.js';
import { readPruneMarkers } from '../retention/prune-marker.js';
import type { ObjectStore } from '../ports/object-store.js';
import type { StateStore } from '../ports/state-store.js';
import { promisedChain, type ChainProblem, type ChunkRef } from './chain.js';
import { handoverOf, type ClusterState, type Handover, type TimelineStart } from '../cluster/repo.js';
import { ChunkBodyProblem, chunkBytes } from '../store/chunk-body.js';

export interface VerifyReport {
  ok: boolean;
  checked: { epochs: number; chunks: number; bytes: number; events: number };
  problems: ChainProblem[];
  /** Objects off the chain (past the durable position, or past an older epoch's handover): not promised, ignored by a restore. */
  strays: string[];
  /** Not problems, but worth saying (an older epoch read without a recorded handover). */
  warnings: string[];
  /** What was checked up to: the durable position's file, end and whole GTID position. */
  durable: { file: string; end: number; gtid: string } | null;
}

export interface ChunkVisitor {
  /** Called with each verified chunk body, in stream order. */
  (ref: ChunkRef, body: Buffer): void;
}

/**
 * Checks what the durable position promises: per epoch, the chain of chunks (no gap, no overlap,
 * files joined through ROTATE), each chunk's SHA-256 against its metadata, and each event's
 * CRC32 (events are parsed across the chunks of a file, so an event split between chunks, or a
 * chunk not ending on an event boundary, is found too). Every problem names the object.
 */
export async function verifyCluster(
  objects: ObjectStore,
  stateStore: StateStore,
  prefix: string,
  state: ClusterState,
  visit?: ChunkVisitor,
): Promise<VerifyReport> {
  const d = state.durable;
  const report: VerifyReport = { ok: true, checked: { epochs: 0, chunks: 0, bytes: 0, events: 0 }, problems: [], strays: [], warnings: [], durable: d ? { file: d.file, end: d.end, gtid: d.gtid } : null };
  const keys: string[] = [];
  for await (const o of objects.list(binlogPrefix(prefix, state.clusterId))) keys.push(o.key);
  const pruned = await readPruneMarkers(objects, prefix, state.clusterId);

  for (let epoch = 1; epoch <= state.epoch; epoch++) {
    const history = await stateStore.get(clusterPk(state.clusterId), epochSk(epoch));
    const start = (history?.start as unknown as TimelineStart | undefined) ?? (epoch === state.epoch ? state.start : undefined);
    if (!start) {
      report.problems.push({ object: `${clusterPk(state.clusterId)}/${epochSk(epoch)}`, message: `history item of epoch ${epoch} is missing` });
      continue;
    }
    const epochKeys = keys.filter((k) => k.startsWith(binlogPrefix(prefix, state.clusterId, epoch)));
    // the state item holds the previous epoch's handover; older ones are in their history items
    const handover = handoverOf(state, epoch) ?? (history?.handover as unknown as Handover | undefined);
    const chain = promisedChain(epochKeys, epoch, { ...state, handovers: handover ? [handover] : [] }, start, pruned.get(epoch) ?? 0);
    if (chain.warning) report.warnings.push(chain.warning);
    report.checked.epochs++;
    report.problems.push(...chain.problems);
    report.strays.push(...chain.strays.map((s) => s.key));

    let parser: BinlogParser | undefined;
    let file = '';
    for (const ref of chain.chunks) {
      const stored = await objects.get(ref.key);
      if (!stored) {
        report.problems.push({ object: ref.key, message: `chunk ${ref.key} is listed but cannot be read` });
        break;
      }
      report.checked.chunks++;
      report.checked.bytes += stored.body.length;
      let bytes: Buffer;
      try {
        bytes = chunkBytes(stored, ref.end - ref.start);
      } catch (err) {
        if (!(err instanceof ChunkBodyProblem)) throw err;
        report.problems.push({ object: ref.key, message: err.message });
        parser = undefined;
        continue;
      }
      // the durable chunk states the GTID position at its end: it must be the one DynamoDB promises
      const chunkPos = stored.metadata['gtid-pos'];
      if (d && ref.key === d.key && chunkPos && chunkPos !== d.gtid) {
        report.problems.push({ object: ref.key, message: `the durable position's GTID position ${d.gtid || '(empty)'} is not the chunk's ${chunkPos || '(empty)'}` });
      }
      if (ref.file !== file || !parser) {
        file = ref.file;
        // a file's first chunk carries its FORMAT_DESCRIPTION; a chain that begins mid-file
        // (`--from current`) is read with the CRC32 checksums the agent requires
        parser = new BinlogParser({ magic: false, startOffset: ref.start, format: { ...INITIAL_FORMAT, checksum: ref.start === 4 ? 'n/a' : 'CRC32' }, source: ref.key });
      }
      try {
        const events = parser.feed(bytes);
        report.checked.events += events.length;
        if (parser.pendingBytes > 0) throw new ProtocolError(`chunk ends inside an event (${parser.pendingBytes} bytes of it)`, { what: 'chunk end', offset: ref.end, file: ref.key });
        const last = events[events.length - 1];
        if (last && (last.header.typeCode === EventType.ROTATE || last.header.typeCode === EventType.STOP)) parser = undefined;
      } catch (err) {
        report.problems.push({ object: ref.key, message: err instanceof Error ? err.message : String(err) });
        parser = undefined;
        continue;
      }
      visit?.(ref, bytes);
    }
  }
  report.ok = report.problems.length === 0;
  return report;
}
