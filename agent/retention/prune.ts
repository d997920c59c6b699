import type { Logger } from '../log.js';
import type { ObjectStore } from '../ports/object-store.js';
import type { StateStore } from '../ports/state-store.js';
import { readInventory } from '../restore/inventory.js';
import { sha256Hex } from '../store/bytes.js';
import { ObjectExistsError } from '../errors.js';
import { pruneMarkerKey } from './prune-marker.js';
import { describeRetention, planRetention, type RetentionPlan } from './retention-plan.js';

/**
 * Carries out a retention plan: writes each epoch's prune marker first, then deletes chunks
 * (oldest first) and old backups (manifest first, so a backup being deleted is never taken for a
 * complete one). Idempotent: running it again deletes what a crash left behind.
 */
export interface PruneDeps {
  objects: ObjectStore;
  stateStore: StateStore;
  prefix: string;
  clusterId: string;
  log: Logger;
  out?: (line: string) => void;
}

export async function prune(deps: PruneDeps, opts: { keepMs: number; nowMs: number; dryRun?: boolean }): Promise<RetentionPlan> {
  const inv = await readInventory(deps.objects, deps.stateStore, deps.prefix, deps.clusterId, { withMetadata: false });
  const plan = planRetention({
    nowMs: opts.nowMs,
    keepMs: opts.keepMs,
    state: inv.state,
    manifests: inv.catalog.complete,
    incomplete: inv.catalog.incomplete.map((id) => ({ id, keys: inv.catalog.keysById.get(id) ?? [] })),
    keysById: inv.catalog.keysById,
    chunks: inv.chunks,
  });
  for (const line of describeRetention(plan)) deps.out?.(line);
  if (opts.dryRun) return plan;

  for (const [epoch, through] of plan.prunedThrough) {
    const body = Buffer.from(JSON.stringify({ epoch, throughSeq: through, at: new Date(opts.nowMs).toISOString() }));
    await deps.objects.putIfAbsent(pruneMarkerKey(deps.prefix, deps.clusterId, epoch, through), body, sha256Hex(body), {}).catch((err) => {
      if (!(err instanceof ObjectExistsError)) throw err; // the same prune ran before
    });
  }
  for (const key of plan.deleteChunks) await deps.objects.delete(key);
  for (const b of plan.deleteBackups) {
    const keys = [...b.keys].sort((x, y) => Number(y.endsWith('/manifest.json')) - Number(x.endsWith('/manifest.json')));
    for (const key of keys) await deps.objects.delete(key);
  }
  deps.log.info({ deletedChunks: plan.deleteChunks.length, deletedBackups: plan.deleteBackups.map((b) => b.id), bytes: plan.bytes }, 'prune complete');
  return plan;
}

/** Parses `30d`, `12h`, `90m`, `45s`, `1w` (or combinations like `1d12h`) into milliseconds. */
export function parseDuration(text: string): number {
  const units: Record<string, number> = { w: 604_800_000, d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 };
  const t = text.trim();
  if (!/^(\d+[wdhms])+$/.test(t)) throw new Error(`invalid duration '${text}': expected e.g. 30d, 12h, 90m, 1d12h`);
  let ms = 0;
  for (const m of t.matchAll(/(\d+)([wdhms])/g)) ms += Number(m[1]) * units[m[2]!]!;
  if (ms <= 0) throw new Error(`invalid duration '${text}': must be positive`);
  return ms;
}
