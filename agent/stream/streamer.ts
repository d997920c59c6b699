import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { FencedError, LeaseHeldError, ConditionFailedError, NotPrimaryError, SelfFencedError, StopCutShortError } from '../errors.js';
import { binlogPrefix, parseChunkKey, stagingPrefix } from '../keys.js';
import type { Logger } from '../log.js';
import type { BinlogSource, BinlogStream, EndedSession, StreamEvent } from '../ports/binlog-source.js';
import type { ObjectStore } from '../ports/object-store.js';
import { isRetryable, retrying, sleep, type Backoff } from '../retry.js';
import { GtidPosition } from '../binlog/gtid-position.js';
import { PendingAcks } from './acks.js';
import { SemiSyncWatch } from './semi-sync-watch.js';
import { Chunker, type ChunkerEvent } from './chunker.js';
import { ClusterStateRepo, primaryKey, type ClusterState, type DurablePosition, type PrimaryIdentity } from '../cluster/repo.js';
import { describePrimary, type SemiSyncReport } from '../cluster/state.js';
import { checkLineage } from './lineage.js';
import { Shipper, type UnstoredChunk } from './shipper.js';
import type { SpillFactory } from './spill.js';
import { chunkEncoder, type ChunkEncoding } from '../store/chunk-body.js';
import { BodyPool } from './body-pool.js';

/**
 * Tells, event by event, where transactions begin and end (agent/binlog/transaction.ts). It sees
 * every event, artificial ones included (a re-sent FORMAT_DESCRIPTION carries the format); the
 * streamer uses its answer only for events that are bytes of the file.
 */
export interface EventClassifier {
  classify(ev: StreamEvent): EventClass;
}

export interface EventClass {
  boundary: boolean;
  endsFile: boolean;
  /** The GTID a GTID event names. */
  gtid?: string;
  /** The GTID position a GTID_LIST event states. */
  gtidList?: string;
}

export interface StreamerOptions {
  source: BinlogSource;
  objects: ObjectStore;
  state: ClusterStateRepo;
  newClassifier: () => EventClassifier;
  prefix: string;
  clusterId: string;
  /** Who is streaming: stable across restarts of the same agent. */
  holder: string;
  /** The server this agent streams: a claim names it, and only its agent may take the epoch's lease. */
  primary?: PrimaryIdentity;
  /** The lease token of this agent's predecessor on this server, known dead (process-lock.ts): its lease is taken at once. */
  predecessorToken?: string;
  /** On a cluster's first start: begin at the oldest binlog the server has, or where it is writing now. */
  from: 'oldest' | 'current';
  chunkMaxBytes: number;
  chunkMaxAgeMs: number;
  /** Where a transaction larger than `chunkMaxBytes` is spilled while it streams. */
  spill?: SpillFactory;
  heartbeatIntervalMs: number;
  leaseMs: number;
  maxInFlight?: number;
  maxHeldBytes?: number;
  log: Logger;
  backoff?: Backoff;
  now?: () => number;
  /**
   * Aborts when a stop must end now (its time ran out): retries end, in-flight store requests are
   * expected to be aborted by the same signal (agent/wiring.ts), and `run` resolves with `cut`.
   */
  giveUp?: AbortSignal;
  /**
   * Aborted by the streamer, with the fencing error, the moment it learns it is fenced: the wiring
   * aborts every object store (and state store) request with it, so no upload in flight lands.
   */
  fenced?: AbortController;
  /** What fencing does to the server: make it read-only, or shut it down. @default 'read-only' */
  fenceAction?: 'read-only' | 'shutdown';
  /**
   * How long the fenced path may take (server action, ending sessions) before `run` resolves
   * anyway, saying what is unfinished. @default 10_000
   */
  fenceTimeoutMs?: number;
  /**
   * Fence the own server when the lease was not renewed for `leaseMs` since the send time of the
   * last successful renewal (docs/fencing.md). The agent's configuration turns it on by default
   * (`selfFence`); a streamer built without it (in-process tests) does not. @default false
   */
  selfFence?: boolean;
  /**
   * Lossless mode (the source dumps as a semi-sync replica): the primary's semi-sync state is read
   * every `heartbeatIntervalMs`, recorded with each heartbeat (`squirrel status`), and every
   * fallback to asynchronous commits is logged as an error. Unset: lossless is off.
   */
  lossless?: SemiSyncReport['mode'];
  /** How chunks are stored (DESIGN.md, storage contract). @default 'none' */
  chunkEncoding?: ChunkEncoding;
}

/** What the fenced path did to the server (the log line and the exit code report it). */
export interface FenceOutcome {
  action: 'read-only' | 'shutdown';
  /** The server refuses writes (read_only=ON) or was told to shut down. */
  serverFenced: boolean;
  /** Client sessions ended (none after a shutdown: the server ended them all). */
  endedSessions: EndedSession[];
  /** Chunks held that were dropped, never uploaded or advanced over. */
  dropped: UnstoredChunk[];
  /** What failed or did not finish within `fenceTimeoutMs`. */
  problems: string[];
  /** Milliseconds from learning of the fence to the server refusing writes (undefined: it did not). */
  fencedAfterMs?: number;
}

/**
 * Why the streamer stopped. `cut`: a stop gave up before storing everything it held (or before
 * releasing the lease); `unstored` lists the chunks, and the durable position stays at `durable`
 * (undefined: never read), or at `positionInFlight` if that unanswered write landed; a restarted
 * agent reads the binlog again from whichever it is.
 */
export type StopReason =
  | { kind: 'stopped' }
  | { kind: 'cut'; why: string; stage: StopStage; unstored: UnstoredChunk[]; durable: DurablePosition | null | undefined; positionInFlight?: DurablePosition }
  | { kind: 'failed'; error: unknown }
  /** The epoch was fenced (told: FencedError, NotPrimaryError; or by itself: SelfFencedError) and the fenced path ran. */
  | { kind: 'fenced'; error: FencedError | NotPrimaryError | SelfFencedError; outcome: FenceOutcome };

type FencingError = FencedError | NotPrimaryError | SelfFencedError;

const isFencing = (err: unknown): err is FencingError => err instanceof FencedError || err instanceof NotPrimaryError || err instanceof SelfFencedError;

export type StopStage = 'joining the cluster' | 'storing what it held' | 'releasing the lease';

/**
 * The agent's streaming loop: claim or join the cluster, hold the lease, read the binlog from the
 * durable position on, cut it into chunks and hand them to the shipper; heartbeat meanwhile.
 * Transient failures (server restart, network drop, S3 or DynamoDB unavailable) are retried;
 * fencing, a lost lease, a purged binlog or a conflicting chunk stop it with the error.
 *
 * Fenced (a newer epoch, an epoch claimed for another server, or its own lease not renewed for
 * `leaseMs` with `selfFence`): at once, with no wait before it, the shipper drops what it holds
 * and its requests are aborted; the server is then put read-only (or shut down) first, client
 * sessions other than the fence's own are ended, and `run` resolves within `fenceTimeoutMs`.
 */
export class Streamer {
  private stopping = false;
  /** Aborted by `stop`: cuts waits short (backoff, reconnect delay, a held lease). */
  private readonly stopRequested = new AbortController();
  private fatal: unknown;
  /** The fenced path, once started (`fence`), and what started it. */
  private fencing: Promise<FenceOutcome> | undefined;
  private fencedBy: FencingError | undefined;
  /** What the fenced path has done so far (filled in as it goes). */
  private fenceOutcome: FenceOutcome | undefined;
  private stopHeartbeat: (() => void) | undefined;
  private current: { close(): Promise<void> } | undefined;
  private shipper: Shipper | undefined;
  /** Buffers for chunk bodies, shared by the chunker (takes) and the shipper (gives back). */
  private bodies: BodyPool | undefined;
  private epoch = 0;
  private lastSeen: { file: string; pos: number } | undefined;
  /** Just past the last chunk handed to the shipper: where a new dump must begin. */
  private resumeAt = { file: '', pos: 0 };
  /** The GTID position at `resumeAt`, as far as the stream has told it. */
  private resumeGtid = '';
  /** Lossless mode: semi-sync replies the primary asked for, sent once the durable position covers them. */
  private readonly acks = new PendingAcks();
  /** The dump semi-sync replies go to. */
  private acking: BinlogStream | undefined;
  /** Lossless mode: the primary's semi-sync state, read beside the heartbeat. */
  private readonly semiSync: SemiSyncWatch | undefined;

  constructor(private readonly opts: StreamerOptions) {
    if (opts.lossless) this.semiSync = new SemiSyncWatch(opts.lossless, new Date(this.now()).toISOString());
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  /** Asks the loop to stop after cutting and storing what it holds. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.stopRequested.abort();
    await this.current?.close().catch(() => undefined);
  }

  private fail(err: unknown): void {
    this.fatal ??= err;
    this.stopping = true;
    if (isFencing(err)) void this.fence(err);
    void this.current?.close().catch(() => undefined);
  }

  /**
   * The fenced path, started at most once. Nothing is awaited before the server action starts:
   * dropping the shipper's chunks and aborting the store requests are synchronous. Read-only
   * comes before ending sessions, so a session ended cannot come back and write.
   */
  private fence(err: FencingError): Promise<FenceOutcome> {
    if (this.fencing) return this.fencing;
    const learnedAt = performance.now();
    this.fencedBy = err;
    this.fatal ??= err;
    this.stopping = true;
    this.stopHeartbeat?.();
    const dropped = this.shipper?.fence(err) ?? [];
    this.opts.fenced?.abort(err);
    const action = this.opts.fenceAction ?? 'read-only';
    const { source, log } = this.opts;
    log.error({ err: err.message, action, dropped: dropped.length }, `fenced: ${err.message}; uploading nothing more (${dropped.length} chunk(s) dropped), ${action === 'shutdown' ? 'shutting the server down' : 'putting the server read-only'}`);
    const outcome: FenceOutcome = { action, serverFenced: false, endedSessions: [], dropped, problems: [] };
    this.fenceOutcome = outcome;
    const fenced = () => {
      outcome.serverFenced = true;
      outcome.fencedAfterMs = Math.round(performance.now() - learnedAt);
    };
    const attempt = async (what: string, op: () => Promise<void>): Promise<boolean> => {
      try {
        await op();
        return true;
      } catch (e) {
        outcome.problems.push(`${what}: ${(e as Error).message}`);
        log.error({ err: (e as Error).message }, `fenced: could not ${what}`);
        return false;
      }
    };
    const run = async (): Promise<FenceOutcome> => {
      if (action === 'shutdown') {
        if (await attempt('shut the server down', () => source.shutdown())) {
          fenced();
          return outcome;
        }
        // the server is still up: make it refuse writes at least
      }
      let readOnly = await attempt('put the server read-only', () => source.setReadOnly());
      if (readOnly) fenced();
      await attempt('end client sessions', async () => {
        outcome.endedSessions = await source.endClientSessions();
        if (outcome.endedSessions.length > 0) log.warn({ sessions: outcome.endedSessions }, `fenced: ended ${outcome.endedSessions.length} client session(s)`);
      });
      // a session holding a lock can make read_only wait out its bound: with the sessions gone, once more
      if (!readOnly) readOnly = await attempt('put the server read-only (after ending sessions)', () => source.setReadOnly());
      if (readOnly && !outcome.serverFenced) fenced();
      return outcome;
    };
    this.fencing = run();
    return this.fencing;
  }

  /** Waits for the fenced path, at most `fenceTimeoutMs`; logs what it did. */
  private async fenced(err: FencingError): Promise<StopReason> {
    const timeoutMs = this.opts.fenceTimeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      this.fence(err),
      new Promise<'timed out'>((resolve) => (timer = setTimeout(() => resolve('timed out'), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (outcome !== 'timed out') return { kind: 'fenced', error: err, outcome };
    // what is unfinished may still finish after this: the caller exits regardless
    const partial = this.fenceOutcome!;
    partial.problems.push(`the fence did not finish within ${timeoutMs} ms (fenceTimeoutMs)`);
    return { kind: 'fenced', error: err, outcome: partial };
  }

  /**
   * Joins the cluster: claims epoch 1 on a first start, else takes the lease (waiting if needed)
   * and checks that this agent's server continues the epoch's chain (lineage.ts) before anything
   * is streamed. An epoch claimed for this server before it was promoted is waited for. Undefined
   * when a stop came first (nothing is held then). Fails with NotPrimaryError when the epoch
   * belongs to another server, with LineageError when this server does not continue it.
   */
  private async join(): Promise<ClusterState | undefined> {
    const { state, log } = this.opts;
    let waitingLogged = false;
    let pendingLogged = false;
    for (;;) {
      const existing = await retrying(() => state.read(), this.retryOpts('read cluster state'));
      if (existing?.startPending && this.mayBePrimaryOf(existing)) {
        if (!pendingLogged) {
          log.warn({ epoch: existing.epoch }, `epoch ${existing.epoch} is claimed for this server but not promoted yet: waiting for \`squirrel promote\` to record where it starts`);
          pendingLogged = true;
        }
        if (this.stopping) return undefined;
        await sleep(1000, this.stopRequested.signal);
        if (this.stopping) return undefined;
        continue;
      }
      if (!existing) {
        const start =
          this.opts.from === 'current'
            ? await retrying(() => this.opts.source.currentPosition(), this.retryOpts('read the server position'))
            : await retrying(() => this.opts.source.listBinlogs(), this.retryOpts('list the server binlogs')).then((files) => {
                if (files.length === 0) throw new Error('the server has no binary logs (is log_bin on?)');
                return { file: files[0]!.file, pos: 4, gtid: '' };
              });
        // one claim, whatever the attempts: an attempt that landed is then recognised by the next
        const claimToken = randomUUID();
        try {
          const claimed = await retrying(() => state.claimFirstEpoch(start, this.opts.holder, this.now(), this.opts.leaseMs, { claimToken, ...(this.opts.primary ? { primary: this.opts.primary } : {}) }), this.retryOpts('claim epoch 1'));
          log.info(
            { epoch: 1, file: start.file, pos: start.pos },
            this.opts.from === 'current'
              ? `first start of cluster ${this.opts.clusterId}: claimed epoch 1, streaming from the server's current position ${start.file}:${start.pos}`
              : `first start of cluster ${this.opts.clusterId}: claimed epoch 1, streaming from the oldest binlog the server has, ${start.file}`,
          );
          return claimed;
        } catch (err) {
          if (err instanceof ConditionFailedError) continue; // another agent created it first: join instead
          throw err;
        }
      }
      try {
        const joined = await retrying(() => state.acquireLease(existing.epoch, this.opts.holder, this.now(), this.opts.leaseMs, {
            ...(this.opts.primary ? { primary: this.opts.primary } : {}),
            ...(this.opts.predecessorToken ? { predecessorToken: this.opts.predecessorToken } : {}),
          }), {
          ...this.retryOpts('take the lease'),
          retryIf: (e) => !(e instanceof LeaseHeldError), // a held lease is waited for below, not retried blindly
        });
        if (!(await this.continuesChain(joined))) return undefined;
        const d = joined.durable;
        log.info(
          { epoch: joined.epoch, durableSeq: joined.durableSeq },
          d ? `resuming cluster ${this.opts.clusterId} at epoch ${joined.epoch} from the durable position ${d.file}:${d.end} (seq ${d.seq})` : `resuming cluster ${this.opts.clusterId} at epoch ${joined.epoch} from ${joined.start.file}:${joined.start.pos}`,
        );
        return joined;
      } catch (err) {
        if (!(err instanceof LeaseHeldError)) throw err;
        if (!waitingLogged) {
          log.warn({ holder: err.holder, until: new Date(err.expiresAt).toISOString() }, `waiting for the lease: ${err.message}`);
          waitingLogged = true;
        }
        if (this.stopping) throw err;
        await sleep(Math.min(1000, Math.max(50, err.expiresAt - this.now() + 10)), this.stopRequested.signal);
      }
    }
  }

  /** Whether the epoch's claim names this agent's server, or names none (an agent that names none may take only such an epoch). */
  private mayBePrimaryOf(state: ClusterState): boolean {
    return !state.primary || (this.opts.primary !== undefined && primaryKey(state.primary) === primaryKey(this.opts.primary));
  }

  /**
   * Checks, holding the epoch's lease, that the server continues the epoch's chain; on a refusal
   * (or a stop) gives the lease up again, so that the epoch's real primary need not wait for it.
   * False when a stop came first.
   */
  private async continuesChain(joined: ClusterState): Promise<boolean> {
    const server = this.opts.primary ? describePrimary(this.opts.primary) : "this agent's server";
    try {
      await retrying(
        () =>
          checkLineage(
            { source: this.opts.source, objects: this.opts.objects, clusterId: this.opts.clusterId, server, onStream: (s) => (this.current = s) },
            joined,
          ),
        this.retryOpts('check that the server continues the epoch'),
      );
      return true;
    } catch (err) {
      await this.opts.state.releaseLease(joined.epoch, this.opts.holder).catch(() => undefined);
      if (this.stopping && this.fatal === undefined) return false;
      throw err;
    }
  }

  /**
   * Deletes chunk objects of this epoch past the durable position: a crash between an upload and
   * its position write leaves them, and nothing promised them. The restarted agent re-cuts and
   * rewrites what they held.
   */
  private async removeStrays(state: ClusterState): Promise<void> {
    const prefix = binlogPrefix(this.opts.prefix, this.opts.clusterId, state.epoch);
    const after = `${prefix}${String(state.durableSeq).padStart(12, '0')}.`;
    for await (const o of this.opts.objects.list(prefix, after)) {
      const ref = parseChunkKey(o.key);
      if (!ref || ref.seq <= state.durableSeq) continue;
      this.opts.log.warn({ key: o.key }, 'removing a chunk past the durable position (left by an interrupted run)');
      await this.opts.objects.delete(o.key);
    }
    // staging objects of large transactions an interrupted run was uploading
    for await (const o of this.opts.objects.list(stagingPrefix(this.opts.prefix, this.opts.clusterId))) {
      this.opts.log.warn({ key: o.key }, 'removing a staged upload left by an interrupted run');
      await this.opts.objects.delete(o.key);
    }
  }

  private retryOpts(what: string) {
    return {
      ...(this.opts.backoff ? { policy: this.opts.backoff } : {}),
      stopped: () => this.stopping,
      signal: this.stopRequested.signal,
      onRetry: (err: unknown, attempt: number, delayMs: number) =>
        this.opts.log.warn({ err: (err as Error).message, attempt, delayMs, lagSeconds: this.shipper?.lagSeconds() ?? 0 }, `${what} failed; retrying`),
    };
  }

  /**
   * Renews the lease every `heartbeatIntervalMs`, the first time at once. With `selfFence`, the
   * server is fenced when `leaseMs` pass (on this process's monotonic clock) since the send time of
   * the last successful renewal: the store's expiry is that renewal's time plus `leaseMs`, and the
   * send is before the store records it. Until the first renewal succeeds, the clock starts at the
   * join's answer (one round trip after its lease write; the claimer's margin covers it).
   */
  private startHeartbeat(): () => void {
    const { leaseMs, selfFence } = this.opts;
    let renewedAt = performance.now();
    let deadline: NodeJS.Timeout | undefined;
    // a renewal answered after the stop must not arm the deadline again
    let stopped = false;
    const arm = () => {
      if (!selfFence || stopped) return;
      clearTimeout(deadline);
      deadline = setTimeout(() => {
        const sinceMs = performance.now() - renewedAt;
        if (sinceMs >= leaseMs) this.fail(new SelfFencedError(this.opts.clusterId, this.epoch, Math.round(sinceMs), leaseMs));
        else arm();
      }, Math.max(0, renewedAt + leaseMs - performance.now()));
    };
    const beat = async () => {
      const sentAt = performance.now();
      try {
        const seen = this.lastSeen;
        await this.opts.state.heartbeat(
          this.epoch,
          this.opts.holder,
          this.now(),
          this.opts.leaseMs,
          {
            server: seen ? { ...seen, at: new Date(this.now()).toISOString() } : null,
            lagSeconds: this.shipper?.lagSeconds() ?? 0,
            ...(this.semiSync ? { semiSync: this.semiSync.current } : {}),
          },
        );
        // renewals may overlap (one hangs, a later one passes): the latest send counts
        if (sentAt > renewedAt) {
          renewedAt = sentAt;
          arm();
        }
      } catch (err) {
        if (this.fencing || stopped) return; // an answer to a renewal sent before the fence or the stop: nothing to add
        if (isFencing(err) || err instanceof LeaseHeldError) this.fail(err);
        else this.opts.log.warn({ err: (err as Error).message, sinceRenewalMs: Math.round(performance.now() - renewedAt), leaseMs }, 'heartbeat failed');
      }
    };
    arm();
    void beat();
    const timer = setInterval(() => void beat(), this.opts.heartbeatIntervalMs);
    const stopWatching = this.watchSemiSync();
    const stop = () => {
      stopped = true;
      clearInterval(timer);
      clearTimeout(deadline);
      stopWatching();
    };
    this.stopHeartbeat = stop;
    return stop;
  }

  /**
   * Lossless mode: reads the primary's semi-sync state every `heartbeatIntervalMs` (the first
   * time at once), one reading at a time. A fallback is an error in the log: from then on the
   * primary acknowledges commits that may not be in S3.
   */
  private watchSemiSync(): () => void {
    const watch = this.semiSync;
    const read = this.opts.source.semiSyncStatus?.bind(this.opts.source);
    if (!watch || !read) return () => undefined;
    const { log } = this.opts;
    let reading = false;
    const poll = async () => {
      if (reading) return;
      reading = true;
      try {
        const change = watch.observe(await read(), new Date(this.now()).toISOString());
        const report = watch.current;
        if (change === 'fell-back') {
          log.error(
            { semiSync: report },
            `lossless=${report.mode}: the primary fell back to asynchronous commits (${report.fallbacks} fallback(s) since it started): commits it acknowledges may not be in S3, RPO is above zero until semi-sync resumes`,
          );
        } else if (change === 'found-off' && !report.enabled) {
          log.error({ semiSync: report }, `lossless=${report.mode}: the primary has semi-sync off (rpl_semi_sync_master_enabled=OFF): commits are asynchronous and may not be in S3, RPO is above zero`);
        } else if (change === 'found-off') {
          log.warn({ semiSync: report }, `lossless=${report.mode}: the primary commits asynchronously for now (it fell back before the agent came); semi-sync resumes once the agent has caught up`);
        } else if (change === 'resumed') {
          log.warn({ semiSync: report }, `lossless=${report.mode}: semi-sync resumed: commits wait for S3 again`);
        }
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'lossless: reading the primary\'s semi-sync status failed');
      } finally {
        reading = false;
      }
    };
    void poll();
    const timer = setInterval(() => void poll(), this.opts.heartbeatIntervalMs);
    return () => clearInterval(timer);
  }

  /** Runs until stopped or a fatal error; resolves with the reason (never rejects). */
  async run(): Promise<StopReason> {
    let stopHeartbeat: (() => void) | undefined;
    let stage: StopStage = 'joining the cluster';
    let durable: DurablePosition | null | undefined;
    try {
      const joined = await this.join();
      if (!joined) return { kind: 'stopped' };
      this.epoch = joined.epoch;
      durable = joined.durable;
      // from the join on, the lease is renewed (and its loss fences) whatever the next step waits for
      stopHeartbeat = this.startHeartbeat();
      // a transient store failure here must not end the agent (every other start-up step retries too)
      if (!this.stopping) await retrying(() => this.removeStrays(joined), this.retryOpts('remove chunks past the durable position'));
      const encoding = this.opts.chunkEncoding ?? 'none';
      const encode = await chunkEncoder(encoding);
      const maxHeldBytes = this.opts.maxHeldBytes ?? 64 * 1024 * 1024;
      // enough buffers for the chunks the shipper may hold, and one being cut
      this.bodies = new BodyPool(this.opts.chunkMaxBytes, Math.ceil(maxHeldBytes / this.opts.chunkMaxBytes) + 1);
      const shipper = new Shipper({
        bodies: this.bodies,
        ...(encoding !== 'none' ? { encoding: { name: encoding, encode } } : {}),
        objects: this.opts.objects,
        state: this.opts.state,
        prefix: this.opts.prefix,
        clusterId: this.opts.clusterId,
        epoch: joined.epoch,
        holder: this.opts.holder,
        durableSeq: joined.durableSeq,
        durable: joined.durable,
        maxInFlight: this.opts.maxInFlight ?? 4,
        maxHeldBytes,
        log: this.opts.log,
        ...(this.opts.backoff ? { backoff: this.opts.backoff } : {}),
        ...(this.opts.now ? { now: this.opts.now } : {}),
        ...(this.opts.giveUp ? { giveUp: this.opts.giveUp } : {}),
        onDurable: (position) => this.acknowledge(position),
        // an advance refused for a newer epoch fences now, not when the stream next submits
        onFatal: (err) => {
          if (isFencing(err)) this.fail(err);
        },
      });
      this.shipper = shipper;
      stage = 'storing what it held';
      if (this.fencedBy) shipper.fence(this.fencedBy); // fenced while removing strays
      const resumeDurable = joined.durable && joined.durable.epoch === joined.epoch ? joined.durable : undefined;
      this.resumeAt = resumeDurable ? { file: resumeDurable.file, pos: resumeDurable.end } : { file: joined.start.file, pos: joined.start.pos };
      this.resumeGtid = resumeDurable ? resumeDurable.gtid : joined.start.gtid;
      for (let attempt = 0; !this.stopping; attempt++) {
        try {
          const before = this.resumeAt;
          await this.streamOnce(shipper);
          if (this.resumeAt !== before) attempt = 0;
        } catch (err) {
          if (this.stopping) break;
          if (!isRetryable(err)) throw err;
          const delay = Math.min(5000, 100 * 2 ** Math.min(attempt, 6));
          this.opts.log.warn({ err: (err as Error).message, from: this.resumeAt, delayMs: delay, lagSeconds: shipper.lagSeconds() }, 'binlog stream interrupted; reconnecting');
          await sleep(delay, this.stopRequested.signal);
        }
      }
      // fenced: no drain, nothing more is stored (the catch runs the fenced path)
      if (this.fencedBy) throw this.fencedBy;
      await shipper.drain();
      if (this.fatal) throw this.fatal;
      stage = 'releasing the lease';
      await this.releaseLease();
      return { kind: 'stopped' };
    } catch (err) {
      if (this.stopping && this.fatal === undefined) {
        if (stage === 'joining the cluster' && err instanceof LeaseHeldError && !this.opts.giveUp?.aborted) {
          this.opts.log.info('stopped while waiting for the lease: this agent held nothing');
          return { kind: 'stopped' };
        }
        if (err instanceof StopCutShortError || isRetryable(err)) return this.cutShort(err, stage, this.shipper?.durable ?? durable);
      }
      const error = this.fatal ?? err;
      // a fence wins over whatever else failed: the server must be fenced either way
      const fencing = this.fencedBy ?? (isFencing(error) ? error : isFencing(err) ? err : undefined);
      if (fencing) return await this.fenced(fencing);
      return { kind: 'failed', error };
    } finally {
      stopHeartbeat?.();
      this.shipper?.stop();
    }
  }

  /**
   * The durable position moved: answer, in order, the semi-sync requests it covers. A reply that
   * cannot be sent (the dump is down) is dropped: a later reply covers it, as the primary wakes
   * every commit up to the position it is told.
   */
  private acknowledge(durable: DurablePosition): void {
    if (this.acks.size === 0) return;
    for (const p of this.acks.covered({ file: durable.file, end: durable.end })) {
      const sent = this.acking?.ack?.(p.file, p.end) ?? false;
      if (!sent) this.opts.log.debug({ file: p.file, end: p.end }, 'semi-sync reply not sent: the dump is down');
    }
  }

  /** Gives the lease up, retrying until it is done or the stop gives up. */
  private async releaseLease(): Promise<void> {
    const giveUp = this.opts.giveUp;
    await retrying(() => this.opts.state.releaseLease(this.epoch, this.opts.holder), {
      ...(this.opts.backoff ? { policy: this.opts.backoff } : {}),
      stopped: () => giveUp?.aborted ?? false,
      ...(giveUp ? { signal: giveUp } : {}),
      onRetry: (err: unknown, attempt: number, delayMs: number) => this.opts.log.warn({ err: (err as Error).message, attempt, delayMs }, 'release the lease failed; retrying'),
    }).catch((err: unknown) => {
      if (giveUp?.aborted) throw err;
      this.opts.log.warn({ err: (err as Error).message }, `could not release the lease; it expires within ${this.opts.leaseMs} ms`);
    });
  }

  /** Logs what a stop that gave up did not store and where the durable position stays. */
  private cutShort(err: unknown, stage: StopStage, durable: DurablePosition | null | undefined): StopReason {
    const unstored = this.shipper?.unstored() ?? [];
    const why = this.opts.giveUp?.reason instanceof StopCutShortError ? this.opts.giveUp.reason.why : (err as Error).message;
    const shown = unstored.slice(0, 20).map((c) => `seq ${c.seq} ${c.file}:${c.start}-${c.end}${c.uploaded ? ' (uploaded, position not moved over it)' : ''}`);
    if (unstored.length > shown.length) shown.push(`and ${unstored.length - shown.length} more`);
    const at = (d: DurablePosition) => `${d.file}:${d.end} (epoch ${d.epoch}, seq ${d.seq})`;
    const inFlight = this.shipper?.positionInFlight;
    const position =
      (durable === undefined ? 'unchanged (this agent could not read it)' : durable === null ? 'at none (nothing is durable yet)' : `at ${at(durable)}`) +
      (inFlight ? `, or at ${at(inFlight)} if the position write in flight landed` : '');
    this.opts.log.error(
      { stage, why, lastError: (err as Error).message, unstored, durable: durable ?? null, positionInFlight: inFlight ?? null, lastRead: this.lastSeen ?? null },
      `stop cut short while ${stage} (${why}): ` +
        (unstored.length > 0 ? `${unstored.length} chunk(s) not stored: ${shown.join(', ')}` : 'no chunk was left unstored') +
        (stage === 'joining the cluster' ? '' : `; the lease was not released (it expires within ${this.opts.leaseMs} ms)`) +
        `; the durable position stays ${position}; nothing is lost: a restarted agent reads the binlog again from the durable position`,
    );
    return { kind: 'cut', why, stage, unstored, durable, ...(inFlight ? { positionInFlight: inFlight } : {}) };
  }

  /**
   * The GTID position (every domain) where the next dump begins: the server's own answer when it
   * has one (exact, whatever an older agent recorded), else what the stream has told so far.
   */
  private async gtidPositionAtResume(): Promise<string> {
    // a failure here is the stream's: the caller reconnects with its backoff, as for the dump itself
    const atServer = await this.opts.source.gtidPositionAt(this.resumeAt);
    if (atServer === undefined) return this.resumeGtid;
    const known = new GtidPosition(atServer);
    known.merge(this.resumeGtid);
    if (known.text !== atServer) {
      this.opts.log.warn({ server: atServer, recorded: this.resumeGtid, at: this.resumeAt }, "the server's GTID position at the resume point does not cover the recorded one; using the server's");
    }
    return atServer;
  }

  /**
   * Streams from `resumeAt` until the stream ends, fails or the streamer stops, moving `resumeAt`
   * past every chunk handed to the shipper. An unfinished transaction is dropped with the
   * connection; the next dump begins at `resumeAt` and reads it again.
   */
  private async streamOnce(shipper: Shipper): Promise<void> {
    const chunker = new Chunker({
      maxBytes: this.opts.chunkMaxBytes,
      maxAgeMs: this.opts.chunkMaxAgeMs,
      gtidPos: await this.gtidPositionAtResume(),
      ...(this.opts.spill ? { spill: this.opts.spill } : {}),
      ...(this.bodies ? { bodies: this.bodies } : {}),
    });
    const classifier = this.opts.newClassifier();
    // Chunks reach the shipper through one promise chain, in the order the chunker cut them,
    // whether the cut came from an event or from the age timer.
    let lane: Promise<void> = Promise.resolve();
    const submit = (chunks: ReturnType<Chunker['flush']>): Promise<void> => {
      if (chunks.length === 0) return lane;
      lane = lane.then(async () => {
        for (const c of chunks) {
          await shipper.submit(c);
          this.resumeAt = { file: c.file, pos: c.end };
          this.resumeGtid = c.gtidPos;
        }
      });
      return lane;
    };
    const stream = await this.opts.source.stream(this.resumeAt);
    this.current = stream;
    this.acking = stream;
    if (this.stopping) await stream.close();
    const timer = setInterval(() => void submit(chunker.tick(this.now())).catch(() => undefined), Math.max(5, Math.min(50, this.opts.chunkMaxAgeMs / 2)));
    try {
      for await (const ev of stream) {
        if (ev.end !== null) this.lastSeen = { file: ev.file, pos: ev.end };
        else if (ev.logPos > 0) this.lastSeen = { file: ev.file, pos: ev.logPos };
        // artificial events (a re-sent FORMAT_DESCRIPTION) still tell the classifier the format
        const c = classifier.classify(ev);
        if (ev.artificial) {
          if (chunker.acksWaiting && !stream.hasBuffered?.()) await submit(chunker.flush());
          continue;
        }
        const chunkerEvent: ChunkerEvent = {
          file: ev.file,
          start: ev.start!,
          bytes: ev.bytes,
          timestampSec: ev.timestamp,
          boundary: c.boundary,
          endsFile: c.endsFile,
          serverId: ev.serverId,
          ...(c.gtid ? { gtid: c.gtid } : {}),
          ...(c.gtidList !== undefined ? { gtidList: c.gtidList } : {}),
          ...(ev.ackRequested ? { ackRequested: true } : {}),
        };
        if (ev.ackRequested) this.acks.requested({ file: ev.file, end: ev.end! });
        const cut = chunker.push(chunkerEvent, this.now());
        // lossless: a commit waits for the chunk that holds it; cut once nothing more is readable
        if (chunker.acksWaiting && !stream.hasBuffered?.()) cut.push(...chunker.flush());
        // wait only when something was cut: that is where the shipper pushes back
        if (cut.length > 0) await submit(cut);
        if (this.stopping) break;
      }
      clearInterval(timer);
      await submit(chunker.flush());
    } catch (err) {
      clearInterval(timer);
      // what was finished is still good: store it, then let the caller reconnect from its end
      await submit(chunker.flush()).catch(() => undefined);
      chunker.discard();
      throw err;
    } finally {
      clearInterval(timer);
      this.current = undefined;
      if (this.acking === stream) this.acking = undefined;
      await stream.close().catch(() => undefined);
    }
  }

}
