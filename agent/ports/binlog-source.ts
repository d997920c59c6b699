import type { StreamEvent } from '../protocol/dump-decoder.js';

export type { StreamEvent };

export interface BinlogFile {
  file: string;
  sizeBytes: number;
}

export interface ServerPosition {
  file: string;
  pos: number;
  /** The server's GTID position (MariaDB `@@gtid_binlog_pos`, MySQL `@@gtid_executed`). */
  gtid: string;
}

/** The primary's semi-sync state (MariaDB `rpl_semi_sync_master_*` and its `Rpl_semi_sync_master_*` status). */
export interface PrimarySemiSync {
  /** `rpl_semi_sync_master_enabled`. */
  enabled: boolean;
  /** `Rpl_semi_sync_master_status`: commits wait for a semi-sync replica's reply now. */
  active: boolean;
  /** `Rpl_semi_sync_master_no_times`: times it fell back to asynchronous commits since it started. */
  fallbacks: number;
  /** `Rpl_semi_sync_master_clients`: semi-sync replicas connected. */
  clients: number;
}

/** An open dump: events in order until the consumer closes it or the connection fails. */
export interface BinlogStream extends AsyncIterable<StreamEvent> {
  close(): Promise<void>;
  /**
   * Semi-sync (a source opened in lossless mode): tells the primary that its binlog up to `end` of
   * `file` is safe, answering events that came with `ackRequested`. False when nothing was sent
   * (the stream is closed).
   */
  ack?(file: string, end: number): boolean;
  /** True when more events have already arrived than were read (lossless mode batches up to there). */
  hasBuffered?(): boolean;
}

/**
 * The primary whose binlog squirrel protects: a MariaDB/MySQL server reached as a replica.
 *
 * Contract: `stream` yields every event from `from` on, exactly as the server sends them,
 * with artificial events (fake ROTATE, heartbeats, re-sent FORMAT_DESCRIPTION) marked; it checks
 * each event's CRC32 and fails with ProtocolError on a mismatch. A dropped connection or a server
 * restart ends the iteration with a retryable error; a purged binlog with a non-retryable one.
 */
export interface BinlogSource {
  /** The binlog files the server still has, oldest first (SHOW BINARY LOGS). */
  listBinlogs(): Promise<BinlogFile[]>;
  /** Where the server is writing now. */
  currentPosition(): Promise<ServerPosition>;
  /**
   * The server's whole GTID position at `pos` of `file` (MariaDB `BINLOG_GTID_POS`), or undefined
   * when the server cannot tell (MySQL has no such function; the file was purged).
   */
  gtidPositionAt(at: { file: string; pos: number }): Promise<string | undefined>;
  stream(from: { file: string; pos: number }): Promise<BinlogStream>;
  /**
   * Makes the server refuse writes (a fenced primary must not accept commits it cannot protect):
   * MariaDB/MySQL `read_only=ON`. Bounded: a write holding a lock makes it fail after a few seconds
   * rather than wait (the caller ends sessions and tries again). Idempotent. Accounts with
   * READ_ONLY ADMIN (MySQL: SUPER, CONNECTION_ADMIN) still write: see docs/fencing.md.
   */
  setReadOnly(): Promise<void>;
  /** Lossless mode: the primary's semi-sync settings and status, as it reports them now. */
  semiSyncStatus?(): Promise<PrimarySemiSync>;
  /** Stops the server (SQL `SHUTDOWN`): every session ends with it. Resolves once it was accepted. */
  shutdown(): Promise<void>;
  /**
   * Ends every client session except the one this call runs on: application sessions, other
   * replicas' dump threads, this agent's own other connections. The server's own threads and
   * its replica threads (it replicating from elsewhere) stay. Returns what it ended.
   */
  endClientSessions(): Promise<EndedSession[]>;
  close(): Promise<void>;
}

/** A client session `endClientSessions` ended. */
export interface EndedSession {
  id: number;
  user: string;
  host: string;
  /** What the session was doing (`Query`, `Sleep`, `Binlog Dump`, ...). */
  command: string;
}
