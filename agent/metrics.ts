import type { Readable } from 'node:stream';
import { parseChunkKey } from './keys.js';
import type { Logger } from './log.js';
import { ForwardingObjectStore, type ObjectStore, type PutStreamOptions } from './ports/object-store.js';
import type { StateStore } from './ports/state-store.js';
import { ClusterStateRepo, type AgentReport, type ClusterState, type DurablePosition } from './cluster/repo.js';

/**
 * The agent's metrics, written as lines in CloudWatch's embedded metric format (EMF): one JSON
 * object per line whose `_aws` member tells CloudWatch which of its fields are metrics. A line
 * that reaches CloudWatch Logs (the CloudWatch agent collecting the `metricsFile`) becomes
 * metric data points in the namespace `Squirrel`, dimension `ClusterId`; nothing here calls
 * CloudWatch. infra/private/observability.ts alarms on these names: change them together.
 */
export const metricsNamespace = 'Squirrel';

/** The metric names and their CloudWatch units, in the order a line declares them. */
export const metricUnits = {
  /** Seconds between now and the oldest event read but not yet durable (0: everything read is durable). */
  DurableLagSeconds: 'Seconds',
  /** Binlog bytes the agent has read past the durable position (a lower bound across a rotation: see bytesBehind). */
  BytesBehind: 'Bytes',
  /** Chunks written to the object store since the previous line. */
  ChunksUploaded: 'Count',
  /** Binlog bytes in those chunks. */
  ChunkBytes: 'Bytes',
  /** 1 when a lease renewal succeeded since the previous line and the latest answered one did; else 0. */
  HeartbeatOk: 'None',
  /** Age of the newest complete base backup; left out while none is known. */
  BackupAgeSeconds: 'Seconds',
  /**
   * Lossless mode: times the primary fell back to asynchronous commits in the interval, as its
   * `Rpl_semi_sync_master_no_times` grew between the agent's readings (the first reading is the
   * base). 0 while nothing fell back, and always with lossless off.
   */
  SemiSyncFallback: 'Count',
} as const;

export type MetricName = keyof typeof metricUnits;

/** One line's values; a metric left undefined is left out of the line (not known yet). */
export type MetricValues = { [K in MetricName]?: number };

/**
 * Pure: one EMF line (without its newline) for `clusterId` at `timestampMs`. Only the metrics
 * with a value are declared: CloudWatch rejects a declared metric without one.
 */
export function emfLine(clusterId: string, values: MetricValues, timestampMs: number): string {
  const names = (Object.keys(metricUnits) as MetricName[]).filter((n) => values[n] !== undefined && Number.isFinite(values[n]));
  const line: Record<string, unknown> = {
    _aws: {
      Timestamp: timestampMs,
      CloudWatchMetrics: [{ Namespace: metricsNamespace, Dimensions: [['ClusterId']], Metrics: names.map((n) => ({ Name: n, Unit: metricUnits[n] })) }],
    },
    ClusterId: clusterId,
  };
  for (const n of names) line[n] = values[n];
  return JSON.stringify(line);
}

/**
 * Pure: binlog bytes between the durable position and what the agent has read. Exact within one
 * file. Across a rotation the rest of the durable file's size is not known here, so it counts
 * only the read file's bytes after its 4-byte magic: a lower bound until the durable position
 * reaches the new file. Undefined when nothing has been read yet.
 */
export function bytesBehind(read: { file: string; pos: number } | null | undefined, durable: Pick<DurablePosition, 'file' | 'end'> | null | undefined): number | undefined {
  if (!read) return undefined;
  if (durable && durable.file === read.file) return Math.max(0, read.pos - durable.end);
  if (durable && durable.file > read.file) return 0; // a late heartbeat answer: the position moved on
  return Math.max(0, read.pos - 4);
}

/**
 * Collects what the agent's parts report between two lines and turns it into one line's values.
 * Pure: every observation carries its time; nothing here reads a clock.
 */
export class MetricsRecorder {
  private lagMax: number | undefined;
  private behindMax: number | undefined;
  private chunks = 0;
  private chunkBytes = 0;
  private lastOkAtMs: number | undefined;
  private lastAnswerOk = false;
  private backupCompletedAtMs: number | undefined;
  /** The primary's fallback count at the previous report (undefined: no report yet). */
  private fallbacksSeen: number | undefined;
  private fallbacks = 0;

  /** @param sinceMs when the first interval begins (the agent's start) */
  constructor(private sinceMs: number) {}

  /** A lease renewal was sent, carrying the streamer's lag and, in lossless mode, the primary's semi-sync state. */
  heartbeatSent(report: Pick<AgentReport, 'lagSeconds' | 'semiSync'>): void {
    this.lagMax = Math.max(this.lagMax ?? 0, report.lagSeconds ?? 0);
    const semiSync = report.semiSync;
    if (!semiSync || semiSync.status === 'unknown') return;
    if (this.fallbacksSeen !== undefined) this.fallbacks += Math.max(0, semiSync.fallbacks - this.fallbacksSeen);
    this.fallbacksSeen = semiSync.fallbacks;
  }

  /**
   * A renewal sent at `sentAtMs` was answered: `state` is the item after the write (its durable
   * position), `read` what the agent had read when it sent it; `state` undefined: it failed.
   */
  heartbeatAnswered(sentAtMs: number, read: { file: string; pos: number } | null, state: ClusterState | undefined): void {
    this.lastAnswerOk = state !== undefined;
    if (!state) return;
    this.lastOkAtMs = Math.max(this.lastOkAtMs ?? sentAtMs, sentAtMs);
    const behind = bytesBehind(read, state.durable);
    if (behind !== undefined) this.behindMax = Math.max(this.behindMax ?? 0, behind);
  }

  /** A chunk of `sizeBytes` binlog bytes was written to the object store. */
  chunkStored(sizeBytes: number): void {
    this.chunks++;
    this.chunkBytes += sizeBytes;
  }

  /** The newest complete base backup finished at this time (undefined: none is known). */
  newestBackup(completedAtMs: number | undefined): void {
    this.backupCompletedAtMs = completedAtMs;
  }

  /**
   * The values of the interval ending at `nowMs`, and a new interval begins. Lag and bytes behind
   * are the interval's largest (an alarm on the line sees the worst moment, not the last one).
   */
  take(nowMs: number): MetricValues {
    const values: MetricValues = {
      ...(this.lagMax !== undefined ? { DurableLagSeconds: Math.round(this.lagMax * 1000) / 1000 } : {}),
      ...(this.behindMax !== undefined ? { BytesBehind: this.behindMax } : {}),
      ChunksUploaded: this.chunks,
      ChunkBytes: this.chunkBytes,
      HeartbeatOk: this.lastAnswerOk && this.lastOkAtMs !== undefined && this.lastOkAtMs >= this.sinceMs ? 1 : 0,
      ...(this.backupCompletedAtMs !== undefined ? { BackupAgeSeconds: Math.max(0, Math.round((nowMs - this.backupCompletedAtMs) / 1000)) } : {}),
      SemiSyncFallback: this.fallbacks,
    };
    this.sinceMs = nowMs;
    this.lagMax = undefined;
    this.behindMax = undefined;
    this.chunks = 0;
    this.chunkBytes = 0;
    this.fallbacks = 0;
    return values;
  }
}

/** The object store, counting every chunk it writes (staging objects and backups are not chunks). */
export class MeteredObjectStore extends ForwardingObjectStore {
  constructor(
    inner: ObjectStore,
    private readonly recorder: MetricsRecorder,
  ) {
    super(inner);
  }

  private stored(key: string): void {
    const ref = parseChunkKey(key);
    if (ref) this.recorder.chunkStored(ref.end - ref.start);
  }

  override async putIfAbsent(key: string, body: Buffer, sha256: string, metadata: Record<string, string>): Promise<void> {
    await this.inner.putIfAbsent(key, body, sha256, metadata);
    this.stored(key);
  }

  override async putStreamIfAbsent(key: string, body: Readable, metadata: Record<string, string>, opts?: PutStreamOptions): Promise<{ sizeBytes: number; sha256: string }> {
    const result = await this.inner.putStreamIfAbsent(key, body, metadata, opts);
    this.stored(key);
    return result;
  }

  override async copyIfAbsent(from: string, to: string, metadata: Record<string, string>): Promise<void> {
    await this.inner.copyIfAbsent(from, to, metadata);
    this.stored(to);
  }
}

/**
 * The cluster state repo, telling the recorder about every heartbeat: the lag it carries, whether
 * it renewed the lease, and the durable position the item holds after it. The streamer is unchanged.
 */
export class MeteredStateRepo extends ClusterStateRepo {
  constructor(
    store: StateStore,
    clusterId: string,
    token: string | undefined,
    private readonly recorder: MetricsRecorder,
  ) {
    super(store, clusterId, token);
  }

  override async heartbeat(epoch: number, holder: string, nowMs: number, leaseMs: number, report: AgentReport): Promise<ClusterState> {
    this.recorder.heartbeatSent(report);
    try {
      const state = await super.heartbeat(epoch, holder, nowMs, leaseMs, report);
      this.recorder.heartbeatAnswered(nowMs, report.server, state);
      return state;
    } catch (err) {
      this.recorder.heartbeatAnswered(nowMs, report.server, undefined);
      throw err;
    }
  }
}

export interface MetricsReporterOptions {
  clusterId: string;
  recorder: MetricsRecorder;
  /** Where each line goes (a file appended to, or stdout). */
  write: (line: string) => void;
  /** One line every this many ms. */
  intervalMs: number;
  /** When the newest complete base backup finished (undefined: none); read every `backupCheckMs`. */
  newestBackup: () => Promise<number | undefined>;
  /** @default 10 minutes */
  backupCheckMs?: number;
  log: Logger;
  now?: () => number;
}

/** Writes one line every `intervalMs` until stopped; a failed backup check keeps the last known age. */
export class MetricsReporter {
  private timer: NodeJS.Timeout | undefined;
  private lastBackupCheckMs = -Infinity;
  private checking: Promise<void> | undefined;

  constructor(private readonly opts: MetricsReporterOptions) {}

  get intervalMs(): number {
    return this.opts.intervalMs;
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  start(): void {
    void this.checkBackups();
    this.timer = setInterval(() => this.emit(), this.opts.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Writes the line of the interval ending now. */
  emit(): void {
    const now = this.now();
    if (now - this.lastBackupCheckMs >= (this.opts.backupCheckMs ?? 600_000)) void this.checkBackups();
    try {
      this.opts.write(emfLine(this.opts.clusterId, this.opts.recorder.take(now), now));
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message }, 'could not write a metrics line');
    }
  }

  private checkBackups(): Promise<void> {
    this.checking ??= (async () => {
      this.lastBackupCheckMs = this.now();
      try {
        this.opts.recorder.newestBackup(await this.opts.newestBackup());
      } catch (err) {
        this.opts.log.warn({ err: (err as Error).message }, 'metrics: could not read the base backups; keeping the last known age');
      } finally {
        this.checking = undefined;
      }
    })();
    return this.checking;
  }
}
