/**
 * Commit -> durable lag, as the benchmarks measure it: connections that commit small
 * transactions and note when each was acknowledged and which GTID sequence it got, a poller that
 * notes when the durable position in DynamoDB passed each sequence, and the match of the two.
 * Works for one GTID domain (the benchmark servers write domain 0 only).
 */
import mysql from 'mysql2/promise';
import type { ClusterStateRepo } from '../agent/cluster/repo.js';
import { sleep } from '../agent/retry.js';
import { percentile } from './common.js';

/** A point in the stream: GTID sequence number `seq`, seen at `at` (ms since epoch). */
export interface SeqAt {
  at: number;
  seq: number;
}

const seqOf = (gtid: string) => Number(gtid.split('-')[2]);

/**
 * Commits single-row INSERTs into `table` over `connections` connections for `seconds`; returns
 * each commit's acknowledgement time and sequence. `pauseMs` spaces a connection's commits (0:
 * back to back).
 */
export async function commitProbes(url: string, table: string, connections: number, seconds: number, pauseMs = 0): Promise<SeqAt[]> {
  const commits: SeqAt[] = [];
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: connections }, async () => {
      const conn = await mysql.createConnection({ uri: url, multipleStatements: true });
      try {
        while (Date.now() - t0 < seconds * 1000) {
          const [results] = await conn.query(`INSERT INTO ${table} (k, pad) VALUES (${Math.floor(Math.random() * 1e6)}, 'p'); SELECT @@last_gtid AS g`);
          const at = Date.now();
          commits.push({ at, seq: seqOf(((results as unknown[])[1] as { g: string }[])[0]!.g) });
          if (pauseMs > 0) await sleep(pauseMs);
        }
      } finally {
        await conn.end();
      }
    }),
  );
  return commits;
}

/** The table `commitProbes` writes to. */
export const probeTableDdl = (table: string) => `CREATE TABLE IF NOT EXISTS ${table} (id BIGINT PRIMARY KEY AUTO_INCREMENT, k INT, pad CHAR(120))`;

/**
 * Polls the durable position every 10 ms and records each advance (the agent's own `at`).
 * `finish(lastSeq)` keeps polling until the durable position reaches `lastSeq` (or `timeoutMs`
 * passed) and returns the advances.
 */
export function watchDurable(repo: ClusterStateRepo): { finish: (lastSeq: number, timeoutMs?: number) => Promise<SeqAt[]> } {
  const durable: SeqAt[] = [];
  let until = Infinity;
  const polling = (async () => {
    let last = -1;
    while (last < until) {
      const d = (await repo.read())?.durable;
      const seq = d?.gtid ? seqOf(d.gtid) : -1;
      if (d && seq > last) {
        durable.push({ at: Date.parse(d.at), seq });
        last = seq;
      }
      await sleep(10);
    }
  })();
  return {
    finish: async (lastSeq, timeoutMs = 30_000) => {
      until = lastSeq;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([polling, new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
      clearTimeout(timer);
      until = -Infinity; // a poller still running after the timeout ends at its next turn
      return durable;
    },
  };
}

/** Each commit's lag: from its acknowledgement to the first durable advance that covers it. */
export function commitLags(commits: SeqAt[], durable: SeqAt[]): number[] {
  const lags: number[] = [];
  let j = 0;
  for (const c of [...commits].sort((a, b) => a.seq - b.seq)) {
    while (j < durable.length && durable[j]!.seq < c.seq) j++;
    if (j < durable.length) lags.push(Math.max(0, durable[j]!.at - c.at));
  }
  return lags;
}

/** p50, p99 and max of a set of lags, ms. */
export function lagSummary(lags: number[]): { lagP50Ms: number; lagP99Ms: number; lagMaxMs: number; measured: number } {
  return { lagP50Ms: percentile(lags, 50), lagP99Ms: percentile(lags, 99), lagMaxMs: lags.length ? Math.max(...lags) : NaN, measured: lags.length };
}
