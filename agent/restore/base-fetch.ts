import { pipeline } from 'node:stream/promises';
import type { BackupManifest } from '../backup/manifest.js';
import { RestoreRefusedError } from '../errors.js';
import type { ObjectStore } from '../ports/object-store.js';
import type { Progress } from '../progress.js';
import { Meter } from '../tools/meter.js';
import { runTool, ToolProcess } from '../tools/tool-process.js';

/**
 * Brings a base backup out of the object store: download -> SHA-256 check -> `zstd -d` -> a
 * consumer (`mbstream -x` into the datadir, or the `mariadb` client for a dump), streamed, never
 * whole in memory. A body whose SHA-256 or size differs from the manifest, or that zstd or the
 * consumer cannot read, refuses the restore naming the object.
 */
async function openBody(objects: ObjectStore, manifest: BackupManifest) {
  const key = manifest.object.key;
  const body = await objects.getStream(key);
  if (!body) throw new RestoreRefusedError(key, 'base backup data is missing from the object store', { hint: 'Pick another backup (an earlier target), or restore the object from another copy of the bucket.' });
  return body;
}

function checkDigest(manifest: BackupManifest, meter: Meter): void {
  const key = manifest.object.key;
  const actual = meter.digest();
  if (meter.bytes !== manifest.object.sizeBytes || actual !== manifest.object.sha256) {
    throw new RestoreRefusedError(key, `base backup is damaged: ${meter.bytes} bytes with sha-256 ${actual}, the manifest says ${manifest.object.sizeBytes} bytes with ${manifest.object.sha256}`, {
      hint: 'Restore from an older backup (pick an earlier target or delete this backup\'s manifest), or from another copy of the bucket.',
    });
  }
}

/** Streams the backup through `zstd -d` into `consumer`'s stdin; checks the digest at the end. */
export async function streamBackupInto(objects: ObjectStore, manifest: BackupManifest, consumer: ToolProcess, progress?: Progress): Promise<void> {
  const key = manifest.object.key;
  const body = await openBody(objects, manifest);
  const meter = new Meter({ sha256: true, onBytes: (n) => progress?.add(n) });
  const zstd = ToolProcess.start('zstd', ['-d', '-q', '-c']);
  const results = await Promise.allSettled([pipeline(body, meter, zstd.stdin), pipeline(zstd.stdout, consumer.stdin), zstd.done, consumer.done]);
  try {
    checkDigest(manifest, meter);
  } catch (err) {
    await Promise.all([zstd.kill(), consumer.kill()]);
    throw err;
  }
  const failed = [results[2], results[3], results[0], results[1]].find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
  if (failed) throw new RestoreRefusedError(key, 'cannot unpack base backup', { cause: failed.reason });
}

/** Downloads the backup once to check its SHA-256 without applying anything (used before a dump is loaded). */
export async function checkBackupDigest(objects: ObjectStore, manifest: BackupManifest): Promise<void> {
  const body = await openBody(objects, manifest);
  const meter = new Meter({ sha256: true });
  meter.resume();
  await pipeline(body, meter);
  checkDigest(manifest, meter);
}

/** Time taken by each phase of bringing a physical backup in. */
export interface UnpackTimes {
  /** Download, check, decompress and unpack (streamed together). */
  fetchMs: number;
  /** `mariabackup --prepare` (applying the backup's redo log). */
  prepareMs: number;
}

/**
 * Physical backup: unpack into `datadir` (empty) and prepare it (`mariabackup --prepare`), with
 * `useMemoryBytes` for prepare's buffer pool (its default, 100 MiB, makes it re-read pages when the
 * backup's redo log is large); the restore passes the replay server's buffer pool size.
 * `onFetched` is called when the download ends and prepare begins (the restore starts reading the
 * replay's chunks then).
 */
export async function unpackPhysical(objects: ObjectStore, manifest: BackupManifest, datadir: string, progress?: Progress, useMemoryBytes?: number, onFetched?: () => void): Promise<UnpackTimes> {
  const started = Date.now();
  const mbstream = ToolProcess.start('mbstream', ['-x', '-C', datadir], { stdout: 'ignore' });
  await streamBackupInto(objects, manifest, mbstream, progress);
  const fetched = Date.now();
  onFetched?.();
  try {
    await runTool('mariabackup', ['--prepare', `--target-dir=${datadir}`, ...(useMemoryBytes ? [`--use-memory=${useMemoryBytes}`] : [])]);
    return { fetchMs: fetched - started, prepareMs: Date.now() - fetched };
  } catch (err) {
    throw new RestoreRefusedError(manifest.object.key, 'mariabackup --prepare failed on the unpacked backup', { cause: err });
  }
}
