import type { RestorePlan } from './plan.js';
import { gtidDistance } from './gtid-distance.js';

/**
 * A predicted restore time (RTO) from a plan: each phase's work divided by a rate. The rates are
 * the defaults below (measured by bench/restore-scale.ts on a 2-core machine, see
 * docs/benchmarks.md) unless the caller has better ones (e.g. its last restore's).
 */
export interface RestoreRates {
  /** Stored (compressed) backup bytes downloaded, checked, decompressed and unpacked per second. */
  fetchBytesPerSec: number;
  /** Unpacked backup bytes prepared (mariabackup --prepare) per second. */
  prepareBytesPerSec: number;
  /** Transactions replayed per second. */
  replayTxPerSec: number;
  /** Fixed costs: planning, starting and stopping servers. */
  fixedSec: number;
  /** Where the rates come from. */
  source: string;
}

/**
 * From bench/results/restore-scale-quiet.json (8 × 400k rows, 2 cores, 3 restores): fetch 380 MiB
 * in 5.2-6.8 s, prepare 1146 MiB in 6.2-7.1 s, replay 4,165-5,761 tx/s, plan + start + finish
 * 2.0-2.6 s; each the slowest, rounded down (fixed costs up).
 */
export const DEFAULT_RESTORE_RATES: RestoreRates = {
  fetchBytesPerSec: 50 * 2 ** 20,
  prepareBytesPerSec: 150 * 2 ** 20,
  replayTxPerSec: 4000,
  fixedSec: 3,
  source: 'default rates (bench/restore-scale.ts, 2 cores)',
};

export interface RestorePrediction {
  seconds: number;
  fetchSec: number;
  prepareSec: number;
  replaySec: number;
  transactions: number;
  rates: RestoreRates;
}

/** The predicted time of a restore of `plan`. Pure. */
export function predictRestore(plan: RestorePlan, rates: RestoreRates = DEFAULT_RESTORE_RATES): RestorePrediction {
  const transactions = gtidDistance(plan.backup.binlog.gtid, plan.targetGtid);
  const fetchSec = plan.bytes.backup / rates.fetchBytesPerSec;
  const prepareSec = plan.backup.kind === 'physical' ? plan.backup.object.rawSizeBytes / rates.prepareBytesPerSec : 0;
  const replaySec = transactions / rates.replayTxPerSec;
  return { seconds: rates.fixedSec + fetchSec + prepareSec + replaySec, fetchSec, prepareSec, replaySec, transactions, rates };
}

/** `predicted:    4:12 (fetch 0:06, prepare 0:05, replay 123836 tx 4:01 at 1500 tx/s; default rates …)`. Pure. */
export function describePrediction(p: RestorePrediction): string {
  const t = (s: number) => {
    const r = Math.round(s);
    return `${Math.floor(r / 60)}:${String(r % 60).padStart(2, '0')}`;
  };
  return `predicted:    ${t(p.seconds)} (fetch ${t(p.fetchSec)}, prepare ${t(p.prepareSec)}, replay ${p.transactions} tx ${t(p.replaySec)} at ${p.rates.replayTxPerSec} tx/s; ${p.rates.source})`;
}
