import { randomUUID } from 'node:crypto';
import { restoreRecordKey, restoresPrefix } from '../keys.js';
import type { ObjectStore } from '../ports/object-store.js';
import { sha256Hex } from '../store/bytes.js';
import type { RestorePhases } from './restore.js';
import { DEFAULT_RESTORE_RATES, type RestoreRates } from './rto.js';

/**
 * What one finished restore measured, kept next to the cluster's chunks so that the next
 * prediction (restore --dry-run, status) uses this cluster's own rates on this kind of machine.
 */
export interface RestoreRecord extends RestorePhases {
  /** ISO time the restore finished. */
  at: string;
  backupId: string;
  backupKind: 'physical' | 'logical';
  /** Stored (compressed) bytes of the base backup fetched. */
  backupStoredBytes: number;
  /** Unpacked bytes of the base backup (what prepare reads). */
  backupRawBytes: number;
}

/**
 * Below these amounts a phase says more about fixed costs than about a rate: its default stays.
 * A restore of 20 transactions must not predict the next one of a million.
 */
export const MEASURED_MIN = { bytes: 16 * 2 ** 20, phaseMs: 500, transactions: 1000, replayMs: 1000 } as const;

/**
 * The rates a restore record measured, each phase where it did enough work to measure it (see
 * MEASURED_MIN), else the default's. Pure.
 */
export function ratesFrom(record: RestoreRecord, defaults: RestoreRates = DEFAULT_RESTORE_RATES): RestoreRates {
  const measured: string[] = [];
  const rate = (amount: number, ms: number, minAmount: number, minMs: number, fallback: number, name: string): number => {
    if (amount < minAmount || ms < minMs) return fallback;
    measured.push(name);
    return Math.round((amount * 1000) / ms);
  };
  const fetchBytesPerSec = rate(record.backupStoredBytes, record.fetchMs, MEASURED_MIN.bytes, MEASURED_MIN.phaseMs, defaults.fetchBytesPerSec, 'fetch');
  const prepareBytesPerSec =
    record.backupKind === 'physical' ? rate(record.backupRawBytes, record.prepareMs, MEASURED_MIN.bytes, MEASURED_MIN.phaseMs, defaults.prepareBytesPerSec, 'prepare') : defaults.prepareBytesPerSec;
  const replayTxPerSec = rate(record.replayTransactions, record.replayMs, MEASURED_MIN.transactions, MEASURED_MIN.replayMs, defaults.replayTxPerSec, 'replay');
  const fixedSec = Math.round((record.planMs + record.startMs + record.finishMs) / 100) / 10;
  measured.push('fixed');
  const rest = ['fetch', 'prepare', 'replay'].filter((n) => !measured.includes(n));
  return {
    fetchBytesPerSec,
    prepareBytesPerSec,
    replayTxPerSec,
    fixedSec,
    source: `the last restore (${record.at}, backup ${record.backupId}): ${measured.join(', ')}${rest.length > 0 ? `; ${rest.join(', ')} from the defaults` : ''}`,
  };
}

/** Stores a restore's record (write-once, under a key of its own). Returns the key. */
export async function recordRestore(objects: ObjectStore, prefix: string, clusterId: string, record: RestoreRecord): Promise<string> {
  const key = restoreRecordKey(prefix, clusterId, new Date(record.at), randomUUID().slice(0, 8));
  const body = Buffer.from(JSON.stringify(record, null, 2));
  await objects.putIfAbsent(key, body, sha256Hex(body), {});
  return key;
}

/** The newest restore record of the cluster, if any (keys sort by time). An unreadable one is skipped. */
export async function lastRestore(objects: ObjectStore, prefix: string, clusterId: string): Promise<RestoreRecord | undefined> {
  const keys: string[] = [];
  for await (const o of objects.list(restoresPrefix(prefix, clusterId))) keys.push(o.key);
  for (const key of keys.sort().reverse()) {
    const got = await objects.get(key);
    if (!got) continue;
    try {
      return JSON.parse(got.body.toString('utf8')) as RestoreRecord;
    } catch {
      continue;
    }
  }
  return undefined;
}

/** The rates to predict this cluster's next restore with: its last restore's, else the defaults. */
export async function restoreRates(objects: ObjectStore, prefix: string, clusterId: string): Promise<RestoreRates> {
  const last = await lastRestore(objects, prefix, clusterId);
  return last ? ratesFrom(last) : DEFAULT_RESTORE_RATES;
}
