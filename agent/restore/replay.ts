import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RestoreRefusedError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ObjectStore, StoredObject } from '../ports/object-store.js';
import type { Progress } from '../progress.js';
import { clientOptionFile, type ClientTarget } from '../tools/client-options.js';
import { ToolProcess } from '../tools/tool-process.js';
import type { ChunkInfo, RestorePlan } from './plan.js';
import { ReplayCutter, type CutterSummary } from './replay-cutter.js';
import { ChunkBodyProblem, chunkBytes } from '../store/chunk-body.js';

/**
 * Replays a plan's chunks into a running server through `mariadb-binlog - | mariadb`. Each chunk
 * is fetched (a few ahead), its SHA-256 checked against its metadata and its length against its
 * key, decompressed when stored with zstd, and cut into whole transactions (replay-cutter.ts)
 * before a byte of it is sent. A missing or damaged chunk ends the feed after the last good
 * transaction: the pipe is closed cleanly, the server keeps exactly that prefix, and the replay
 * fails with RestoreRefusedError naming the object.
 */
export interface ReplaySummary extends CutterSummary {
  chunks: number;
  chunkBytes: number;
}

/** Fetches and checks one chunk; returns its event bytes. */
export async function fetchChunk(objects: ObjectStore, c: ChunkInfo): Promise<Buffer> {
  let stored: StoredObject | undefined;
  try {
    stored = await objects.get(c.key);
  } catch (err) {
    throw new RestoreRefusedError(c.key, 'cannot read chunk', { cause: err });
  }
  if (!stored) throw new RestoreRefusedError(c.key, 'chunk is missing from the object store', { hint: 'The chain listed it, but it is gone: it was deleted while the restore ran, or the store lost it. Run `squirrel verify`.' });
  try {
    return chunkBytes(stored, c.end - c.start);
  } catch (err) {
    if (!(err instanceof ChunkBodyProblem)) throw err;
    throw new RestoreRefusedError(c.key, err.message, {
      cause: err,
      hint: 'The stored chunk is damaged. Restore to a target before it (time: or gtid:), or from another copy of the bucket.',
    });
  }
}

async function write(sink: Writable, bufs: Buffer[]): Promise<void> {
  for (const b of bufs) {
    if (!sink.write(b)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          sink.off('drain', done);
          sink.off('close', done);
          resolve();
        };
        sink.on('drain', done);
        sink.on('close', done);
      });
    }
    if (sink.destroyed) throw new Error('the replay pipe closed early');
  }
}

/**
 * Feeds the plan's chunks, cut by its stop rule, into `sink`, then ends it. Throws
 * RestoreRefusedError (after ending the sink) when a chunk is missing or damaged.
 */
export async function feedChunks(
  plan: RestorePlan,
  objects: ObjectStore,
  sink: Writable,
  opts: { progress?: Progress; prefetch?: number } = {},
): Promise<ReplaySummary> {
  const cutter = new ReplayCutter({ from: plan.from, stop: plan.stop, backupGtid: plan.backup.binlog.gtid });
  const list = plan.header ? [plan.header, ...plan.chunks] : [...plan.chunks];
  const ahead = Math.max(1, opts.prefetch ?? 4);
  const fetching: Promise<Buffer>[] = [];
  const fetchAt = (i: number) => {
    const p = fetchChunk(objects, list[i]!);
    p.catch(() => undefined); // observed when its turn comes
    fetching[i] = p;
  };
  let chunks = 0;
  let chunkBytes = 0;
  let failure: unknown;
  try {
    for (let i = 0; i < list.length && !cutter.done; i++) {
      for (let j = i; j < Math.min(list.length, i + ahead); j++) if (!fetching[j]) fetchAt(j);
      const c = list[i]!;
      const body = await fetching[i]!;
      delete fetching[i];
      let out: Buffer[];
      try {
        out = cutter.chunk(c, body);
      } catch (err) {
        throw new RestoreRefusedError(c.key, err instanceof Error ? err.message : String(err), { cause: err });
      }
      await write(sink, out);
      chunks++;
      chunkBytes += body.length;
      opts.progress?.add(c.sizeBytes);
    }
  } catch (err) {
    failure = err;
  }
  sink.end();
  if (failure) throw failure;
  return { ...cutter.result, chunks, chunkBytes };
}

/**
 * Runs `mariadb-binlog - | mariadb` against `target` and feeds it. The SQL goes through this
 * process too (so either tool's failure is seen and reported with its stderr).
 */
export async function replayInto(
  plan: RestorePlan,
  objects: ObjectStore,
  target: ClientTarget,
  log: Logger,
  progress?: Progress,
): Promise<ReplaySummary> {
  const option = clientOptionFile(target);
  const binlog = ToolProcess.start('mariadb-binlog', ['-']);
  const client = ToolProcess.start('mariadb', [`--defaults-extra-file=${option.path}`, '--binary-mode', '--batch']);
  try {
    const relay = pipeline(binlog.stdout, client.stdin);
    relay.catch(() => undefined);
    let fed: ReplaySummary | undefined;
    let feedError: unknown;
    try {
      fed = await feedChunks(plan, objects, binlog.stdin, { ...(progress ? { progress } : {}) });
    } catch (err) {
      feedError = err;
    }
    const results = await Promise.allSettled([binlog.done, client.done, relay]);
    // the SQL side's failure explains a broken pipe on the feed side
    const toolFailure = [results[1], results[0], results[2]].find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
    if (toolFailure) {
      log.error({ err: String(toolFailure.reason), feedError: feedError ? String(feedError) : undefined }, 'replay failed');
      throw toolFailure.reason;
    }
    if (feedError) throw feedError;
    return fed!;
  } finally {
    await Promise.all([binlog.kill(), client.kill()]);
    option.cleanup();
  }
}
