/**
 * The fake primary: a TCP server that speaks enough of the server side of the MariaDB protocol for
 * an unmodified replica (CHANGE MASTER TO ... MASTER_USE_GTID=slave_pos) or `mariadb-binlog
 * --read-from-remote-server` to connect, authenticate and receive the cluster's binlog from the
 * object store, checked chunk by chunk (DESIGN.md: "a service that pretends to be a master").
 *
 * What is promised is what is served: up to the durable position as of each dump's start (`until:
 * 'latest'`, the default), up to a GTID position (`until: {gtid}`), or on as the durable position
 * moves (`follow`). Each connection reads its own chunks; nothing is written anywhere.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { BinlogChainError, ConfigError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ObjectStore } from '../ports/object-store.js';
import type { StateStore } from '../ports/state-store.js';
import { formatMariaGtidList, parseMariaGtidList, type MariaGtid } from '../protocol/gtid.js';
import type { DumpResult } from './dump-sender.js';
import { Session } from './session.js';
import { planTimeline, readTimelineInput, type Timeline } from './timeline.js';

/** The server_id the fake primary announces and puts in the events it makes up. */
export const DEFAULT_SERVE_SERVER_ID = 4_000_000_002;
/** What VERSION() says; the handshake adds the `5.5.5-` prefix MariaDB 10+ servers send. */
export const SERVE_VERSION = '10.11.0-MariaDB-squirrel';

export type ServeUntil = 'latest' | { gtid: string };

export interface FakePrimaryOptions {
  objects: ObjectStore;
  stateStore: StateStore;
  /** Key prefix of the cluster's objects ('' or ending in '/'). */
  prefix: string;
  clusterId: string;
  /** The user name and password replicas must present. */
  user: string;
  password: string;
  /** @default '127.0.0.1' */
  host?: string;
  /** @default 0 (any free port; read it from the result) */
  port?: number;
  /** Must differ from every replica's server_id. @default DEFAULT_SERVE_SERVER_ID */
  serverId?: number;
  /** Where the binlog ends for replicas. @default 'latest' (the durable position when a dump starts) */
  until?: ServeUntil;
  /** Keep serving new chunks as the durable position moves (not with a GTID `until`). @default false */
  follow?: boolean;
  /** Chunks read ahead of the one being sent, per replica. @default 8 */
  readAheadChunks?: number;
  /** Bytes read ahead, per replica. @default 64 MiB */
  readAheadBytes?: number;
  /** How often `follow` looks for new chunks. @default 500 */
  followPollMs?: number;
  log: Logger;
}

export interface ServeStats {
  connections: number;
  dumps: number;
  eventsSent: number;
  bytesSent: number;
  chunksRead: number;
}

export interface FakePrimary {
  host: string;
  port: number;
  serverId: number;
  /** Closes the listener and every connection. Idempotent. */
  stop(): Promise<void>;
  /** Resolves when the fake primary has stopped. */
  done: Promise<void>;
  stats(): ServeStats;
  /** Dumps that ended with an error sent to the replica (a damaged or missing object), in order. */
  failures(): { object: string; message: string }[];
  /** Resolves with the result of the next dump to end. */
  nextDumpEnd(): Promise<DumpResult>;
}

function parseUntil(until: ServeUntil | undefined, follow: boolean): MariaGtid[] | undefined {
  if (until === undefined || until === 'latest') return undefined;
  if (follow) throw new ConfigError([{ key: '--until', value: `gtid:${until.gtid}`, expected: 'not a GTID position together with --follow' }]);
  try {
    return parseMariaGtidList(until.gtid);
  } catch (err) {
    throw new ConfigError([{ key: '--until', value: `gtid:${until.gtid}`, expected: 'gtid:<domain-server-seq[,...]>' }], { cause: err });
  }
}

export async function startFakePrimary(opts: FakePrimaryOptions): Promise<FakePrimary> {
  const follow = opts.follow ?? false;
  const stopAt = parseUntil(opts.until, follow);
  const serverId = opts.serverId ?? DEFAULT_SERVE_SERVER_ID;
  const host = opts.host ?? '127.0.0.1';
  const stats: ServeStats = { connections: 0, dumps: 0, eventsSent: 0, bytesSent: 0, chunksRead: 0 };
  const failures: { object: string; message: string }[] = [];
  let dumpWaiters: ((r: DumpResult) => void)[] = [];
  const sessions = new Set<Session>();
  let nextConnectionId = 1;

  const warned = new Set<string>();
  const loadTimeline = async (): Promise<Timeline> => {
    const input = await readTimelineInput(opts.objects, opts.stateStore, opts.prefix, opts.clusterId);
    if (!input) throw new BinlogChainError(`cluster ${opts.clusterId}`, 'the cluster has no state item: nothing has been streamed');
    const timeline = planTimeline(input);
    for (const w of timeline.warnings ?? []) {
      if (warned.has(w)) continue;
      warned.add(w);
      opts.log.warn(w);
    }
    return timeline;
  };

  const server: Server = createServer((socket: Socket) => {
    stats.connections++;
    const session = new Session(socket, nextConnectionId++, {
      objects: opts.objects,
      loadTimeline,
      user: opts.user,
      password: opts.password,
      serverId,
      version: SERVE_VERSION,
      system: {
        server_id: serverId,
        version: SERVE_VERSION,
        version_comment: 'squirrel fake primary',
        binlog_checksum: 'CRC32',
        binlog_format: 'ROW',
        gtid_domain_id: 0,
        gtid_strict_mode: 1,
        log_bin: 1,
        ...(stopAt ? { squirrel_serve_until: formatMariaGtidList(stopAt) } : {}),
      },
      ...(stopAt ? { stopAt } : {}),
      follow,
      followPollMs: opts.followPollMs ?? 500,
      readAheadChunks: opts.readAheadChunks ?? 8,
      readAheadBytes: opts.readAheadBytes ?? 64 * 1024 * 1024,
      handshakeTimeoutMs: 10_000,
      log: opts.log,
      onDump: (r) => {
        stats.dumps++;
        stats.eventsSent += r.eventsSent;
        stats.bytesSent += r.bytesSent;
        stats.chunksRead += r.chunksRead;
        if (r.error) failures.push(r.error);
        const waiters = dumpWaiters;
        dumpWaiters = [];
        for (const w of waiters) w(r);
      },
    });
    sessions.add(session);
    void session.run().finally(() => sessions.delete(session));
  });
  server.on('error', (err) => opts.log.error({ err: err.message }, 'fake primary listener failed'));

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  opts.log.info({ host, port, serverId, clusterId: opts.clusterId, follow, until: opts.until ?? 'latest' }, `fake primary listening on ${host}:${port}`);

  let resolveDone!: () => void;
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= new Promise<void>((resolve) => {
      for (const s of sessions) s.close();
      server.close(() => resolve());
    }).then(() => {
      opts.log.info(stats, 'fake primary stopped');
      resolveDone();
    });
    return stopping;
  };

  return {
    host,
    port,
    serverId,
    stop,
    done,
    stats: () => ({ ...stats }),
    failures: () => [...failures],
    nextDumpEnd: () => new Promise<DumpResult>((resolve) => dumpWaiters.push(resolve)),
  };
}
