import { basePrefix } from '../keys.js';
import type { ObjectStore } from '../ports/object-store.js';
import { backupIdOf, parseManifest, type BackupManifest } from './manifest.js';

/** What the object store holds under `…/<clusterId>/base/`. */
export interface BackupCatalog {
  /** Backups with a valid manifest, oldest first (ids sort by time). */
  complete: BackupManifest[];
  /** Backup ids without a manifest (in progress, failed, or waiting for the binlog to be durable). */
  incomplete: string[];
  /** Manifests that do not parse: never used; named so an operator can look. */
  invalid: { key: string; message: string }[];
  /** Every key under each backup id, for pruning. */
  keysById: Map<string, string[]>;
}

export async function readCatalog(objects: ObjectStore, prefix: string, clusterId: string): Promise<BackupCatalog> {
  const keysById = new Map<string, string[]>();
  for await (const o of objects.list(basePrefix(prefix, clusterId))) {
    const id = backupIdOf(prefix, clusterId, o.key);
    if (id === undefined) continue;
    keysById.set(id, [...(keysById.get(id) ?? []), o.key]);
  }
  const catalog: BackupCatalog = { complete: [], incomplete: [], invalid: [], keysById };
  for (const [id, keys] of [...keysById].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const key = keys.find((k) => k.endsWith('/manifest.json'));
    if (!key) {
      catalog.incomplete.push(id);
      continue;
    }
    const stored = await objects.get(key);
    if (!stored) {
      catalog.incomplete.push(id);
      continue;
    }
    try {
      const manifest = parseManifest(stored.body.toString('utf8'));
      if (manifest.id !== id) throw new Error(`manifest names backup ${manifest.id}, stored under ${id}`);
      catalog.complete.push(manifest);
    } catch (err) {
      catalog.invalid.push({ key, message: err instanceof Error ? err.message.split('\n')[0]! : String(err) });
    }
  }
  return catalog;
}
