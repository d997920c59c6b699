/**
 * How big the server that replays a restore is: a pure rule of the machine's memory and the
 * restore's data, so that a restore is sized for its machine and its job, never for tests.
 *
 * The rule (docs/benchmarks.md "restore at scale" shows it measured):
 * - **buffer pool**: the data replay touches is at most the base backup's data plus what the
 *   binlog adds, bounded by the binlog bytes. Wanted = `1.1 × (backup data + binlog bytes)` so
 *   that the working set stays in memory; never more than `memoryShare` (60 %) of the machine's
 *   memory (the OS page cache, the agent and the fake primary need the rest); never less than
 *   128 MiB (InnoDB's own default). Rounded up to 128 MiB, InnoDB's buffer pool chunk size.
 * - **redo log**: as large as the buffer pool, within 256 MiB .. 4 GiB. A redo log smaller than
 *   the dirty pages replay makes forces checkpoint flushing (the throttle of the test sizing,
 *   8 MiB); replay that crashes is redone from scratch, so recovery time after a crash is not a
 *   concern during replay, and 4 GiB bounds the disk it takes.
 * - **applier threads**: see `replayParallelism`.
 *
 * An explicit `bufferPoolBytes` / `logFileBytes` (config or CLI) wins over the rule.
 */
export interface SizingInput {
  /** The machine's memory (os.totalmem()). */
  memoryBytes: number;
  /** The base backup's data, uncompressed (the manifest's rawSizeBytes). */
  dataBytes: number;
  /** The binlog bytes to replay (the plan's chunk bytes). */
  binlogBytes: number;
  /** Cores (os.availableParallelism()). */
  cores: number;
  /** Overrides. */
  bufferPoolBytes?: number;
  logFileBytes?: number;
  parallelThreads?: number;
}

export interface ServerSizing {
  bufferPoolBytes: number;
  logFileBytes: number;
  /** slave_parallel_threads for replay as a replica. */
  parallelThreads: number;
  /** slave_domain_parallel_threads: how many of them one domain may hold (0: all). */
  domainParallelThreads: number;
  /** A line for the operator: the rule's figures. */
  reason: string;
}

export const MiB = 2 ** 20;
export const GiB = 2 ** 30;
/** InnoDB rounds the buffer pool to its chunk size (innodb_buffer_pool_chunk_size, 128 MiB). */
const CHUNK = 128 * MiB;
const MIN_POOL = 128 * MiB;
const MIN_LOG = 256 * MiB;
const MAX_LOG = 4 * GiB;
/** The share of the machine's memory the buffer pool may take. */
export const MEMORY_SHARE = 0.6;
/** The working set over the data: indexes grow, pages are not full. */
const HEADROOM = 1.1;

const roundUp = (n: number, to: number) => Math.ceil(n / to) * to;
const roundDown = (n: number, to: number) => Math.floor(n / to) * to;
const mib = (n: number) => `${Math.round(n / MiB)} MiB`;

/**
 * Applier threads: 4 per core, between 4 and 64. Measured on a 2-core machine (docs/benchmarks.md,
 * "restore at scale"): 2, 4, 8 and 16 optimistic appliers replay within the machine's noise of each
 * other, so more threads cost nothing measurable there, and a machine with more cores and I/O
 * has more to gain. Every domain may use all of them (slave_domain_parallel_threads=0), so one
 * busy domain is not held to a share while the others are idle.
 */
export function replayParallelism(cores: number): { parallelThreads: number; domainParallelThreads: number } {
  return { parallelThreads: Math.min(64, Math.max(4, 4 * Math.max(1, Math.floor(cores)))), domainParallelThreads: 0 };
}

/** The sizing of a restore's replay server. Pure. */
export function sizeReplayServer(input: SizingInput): ServerSizing {
  const cap = Math.max(MIN_POOL, roundDown(input.memoryBytes * MEMORY_SHARE, CHUNK));
  const wanted = roundUp(Math.max(MIN_POOL, HEADROOM * (input.dataBytes + input.binlogBytes)), CHUNK);
  const rulePool = Math.min(wanted, cap);
  const bufferPoolBytes = input.bufferPoolBytes ?? rulePool;
  const logFileBytes = input.logFileBytes ?? Math.min(MAX_LOG, Math.max(MIN_LOG, roundUp(bufferPoolBytes, MiB)));
  const threads = replayParallelism(input.cores);
  const parallelThreads = input.parallelThreads ?? threads.parallelThreads;
  const why =
    input.bufferPoolBytes !== undefined
      ? 'as configured'
      : wanted <= cap
        ? `1.1 × (data ${mib(input.dataBytes)} + binlog ${mib(input.binlogBytes)})`
        : `capped at ${MEMORY_SHARE * 100}% of ${mib(input.memoryBytes)} memory`;
  return {
    bufferPoolBytes,
    logFileBytes,
    parallelThreads,
    domainParallelThreads: threads.domainParallelThreads,
    reason: `buffer pool ${mib(bufferPoolBytes)} (${why}), redo log ${mib(logFileBytes)}, ${parallelThreads} applier threads`,
  };
}

/** `512M`, `2G`, `1.5G`, `268435456` (bytes; K, M, G, T are powers of 1024). Undefined if not a size. Pure. */
export function parseSize(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*$/i.exec(text);
  if (!m) return undefined;
  const power = ' KMGT'.indexOf((m[2] || ' ').toUpperCase());
  return Math.round(Number(m[1]) * 1024 ** power);
}
