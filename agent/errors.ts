/**
 * One error class per kind of failure. Each names the object it is about and, where we know it,
 * a hint: a full sentence telling the operator what to do. Messages are lowercase, no final period.
 * `retryable` says whether trying the same operation again later can succeed.
 */
export interface ErrorDetails {
  hint?: string;
  cause?: unknown;
}

export abstract class SquirrelError extends Error {
  abstract readonly code: string;
  readonly hint: string | undefined;
  readonly retryable: boolean = false;

  constructor(message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.hint = details.hint;
  }
}

/** One bad configuration value. */
export interface ConfigProblem {
  key: string;
  /** The value as given, or undefined when the key is missing. */
  value: unknown;
  /** What would be valid. */
  expected: string;
}

/** The configuration is invalid; carries every problem at once. The CLI exits with code 2. */
export class ConfigError extends SquirrelError {
  readonly code = 'CONFIG';
  constructor(readonly problems: ConfigProblem[], details: ErrorDetails = {}) {
    super(`invalid configuration: ${problems.length} problem${problems.length === 1 ? '' : 's'}`, details);
  }
}

/** Bytes on the wire or in a file do not follow the protocol or the binlog format. */
export class ProtocolError extends SquirrelError {
  readonly code = 'PROTOCOL';
  constructor(
    message: string,
    readonly where: { what: string; offset?: number; file?: string },
    details: ErrorDetails = {},
  ) {
    super(
      `${message} (${where.file ? `${where.file}: ` : ''}${where.what}${where.offset === undefined ? '' : ` at byte ${where.offset}`})`,
      details,
    );
  }
}

/**
 * A conditional write failed: the item changed first, by someone else or by an earlier attempt of
 * this very write whose response was lost (the caller re-reads to tell). Never retried blindly.
 */
export class ConditionFailedError extends SquirrelError {
  readonly code = 'CONDITION_FAILED';
  constructor(readonly target: string, message: string, details: ErrorDetails = {}) {
    super(`${message} (${target})`, details);
  }
}

/** An object already exists where a write-once put was attempted. */
export class ObjectExistsError extends SquirrelError {
  readonly code = 'OBJECT_EXISTS';
  constructor(readonly key: string, details: ErrorDetails = {}) {
    super(`object already exists: ${key}`, details);
  }
}

/** An object's stored bytes do not match their recorded SHA-256. */
export class ChecksumMismatchError extends SquirrelError {
  readonly code = 'CHECKSUM_MISMATCH';
  constructor(readonly key: string, readonly expected: string, readonly actual: string, details: ErrorDetails = {}) {
    super(`sha-256 mismatch for ${key}: expected ${expected}, got ${actual}`, details);
  }
}

/** A store-side copy was asked for a source larger than the store copies in one request (S3: 5 GiB). */
export class CopyTooLargeError extends SquirrelError {
  readonly code = 'COPY_TOO_LARGE';
  constructor(readonly key: string, readonly sizeBytes: number, readonly copyLimitBytes: number, details: ErrorDetails = {}) {
    super(`copy source ${key} is ${sizeBytes} bytes, over the store's copy limit of ${copyLimitBytes}`, {
      hint: 'Upload the body again instead of copying it (the shipper does so from the spill file); copying cannot succeed.',
      ...details,
    });
  }
}

/**
 * A binlog file grew past 4 GiB: the event header's `log_pos` (and COM_BINLOG_DUMP's position) is
 * 32 bits, so it wrapped and no longer says where the event is. Not retryable: the same event
 * comes back on every reconnect.
 */
export class BinlogOffsetOverflowError extends SquirrelError {
  readonly code = 'BINLOG_OFFSET_OVERFLOW';
  constructor(readonly file: string, readonly position: number | undefined, readonly logPos: number, details: ErrorDetails = {}) {
    super(`binlog file ${file} grows past 4 GiB${position === undefined ? '' : ` after byte ${position}`}: an event's 32-bit log_pos (${logPos}) wrapped`, {
      hint:
        'The replication protocol carries 32-bit file offsets, so squirrel cannot place bytes past 4 GiB of one binlog file and stops rather than store them at a wrong offset. ' +
        'A file grows that large only through a transaction that does not fit in it (files rotate between transactions): keep transactions well under 4 GiB. ' +
        'Everything up to the durable position is safe; take a new base backup once the server has rotated past this file.',
      ...details,
    });
  }
}

/** A remote service (S3, DynamoDB, the database server) could not be reached or failed transiently. */
export class UnavailableError extends SquirrelError {
  readonly code = 'UNAVAILABLE';
  override readonly retryable = true;
  constructor(readonly service: string, message: string, details: ErrorDetails = {}) {
    super(`${service} unavailable: ${message}`, details);
  }
}

/** The server refused our credentials. */
export class AuthenticationError extends SquirrelError {
  readonly code = 'AUTHENTICATION';
  constructor(readonly target: string, message: string, details: ErrorDetails = {}) {
    super(`authentication failed for ${target}: ${message}`, details);
  }
}

/** The database server cannot be reached. */
export class ConnectionError extends SquirrelError {
  readonly code = 'CONNECTION';
  override readonly retryable = true;
  constructor(readonly target: string, message: string, details: ErrorDetails = {}) {
    super(`cannot connect to ${target}: ${message}`, details);
  }
}

/** A local process (a server, a tool) failed to start or exited unexpectedly. */
export class ProcessError extends SquirrelError {
  readonly code = 'PROCESS';
  constructor(readonly command: string, message: string, details: ErrorDetails = {}) {
    super(`${command}: ${message}`, details);
  }
}

/** The agent's epoch is no longer the cluster's: another agent has taken over. */
export class FencedError extends SquirrelError {
  readonly code = 'FENCED';
  constructor(readonly clusterId: string, readonly ownEpoch: number, readonly currentEpoch: number, details: ErrorDetails = {}) {
    super(`cluster ${clusterId} moved to epoch ${currentEpoch}; this agent holds epoch ${ownEpoch}`, {
      hint: 'Another primary took over this cluster. Stop this agent; do not write to this server.',
      ...details,
    });
  }
}

/** Formats an error and its cause chain for an operator, with the hint last. */
export function describeError(err: unknown): string {
  const lines: string[] = [];
  let hint: string | undefined;
  let current: unknown = err;
  for (let depth = 0; current !== undefined && depth < 8; depth++) {
    if (current instanceof Error) {
      lines.push(depth === 0 ? current.message : `  caused by: ${current.message}`);
      if (current instanceof SquirrelError && current.hint && !hint) hint = current.hint;
      current = current.cause;
    } else {
      lines.push(depth === 0 ? String(current) : `  caused by: ${String(current)}`);
      current = undefined;
    }
  }
  if (hint) lines.push(`hint: ${hint}`);
  return lines.join('\n');
}

/** Another agent holds the cluster's lease. */
export class LeaseHeldError extends SquirrelError {
  readonly code = 'LEASE_HELD';
  override readonly retryable = true;
  constructor(readonly clusterId: string, readonly holder: string, readonly expiresAt: number, details: ErrorDetails = {}) {
    super(`cluster ${clusterId} is being streamed by ${holder} (lease until ${new Date(expiresAt).toISOString()})`, {
      hint: 'Two agents must never stream one cluster. Stop the other agent, or wait for its lease to expire.',
      ...details,
    });
  }
}

/** The epoch belongs to another server: its claim named another primary than this agent's. */
export class NotPrimaryError extends SquirrelError {
  readonly code = 'NOT_PRIMARY';
  constructor(readonly clusterId: string, readonly epoch: number, readonly primary: string, readonly own: string, details: ErrorDetails = {}) {
    super(`epoch ${epoch} of cluster ${clusterId} was claimed for ${primary}; this agent's server is ${own}`, {
      hint: 'Only the agent of the server an epoch was claimed for may stream it. If this server was the old primary, it is fenced: keep it read-only and rebuild it from a restore. Set instanceId in the agent configuration if the claim names instances.',
      ...details,
    });
  }
}

/** The next epoch may not be claimed yet: the current epoch's lease is live (or within the margin after its expiry). */
export class LeaseLiveError extends SquirrelError {
  readonly code = 'LEASE_LIVE';
  override readonly retryable = true;
  constructor(readonly clusterId: string, readonly holder: string, readonly expiresAt: number, readonly marginMs: number, details: ErrorDetails = {}) {
    super(`cluster ${clusterId}: the lease of ${holder} is live until ${new Date(expiresAt).toISOString()}; a claim waits until ${marginMs} ms after that`, {
      hint: 'An agent that cannot renew its lease fences its own server before the lease expires; claim after the expiry plus the margin, or force the claim only when the old primary is known stopped.',
      ...details,
    });
  }
}

/** A status change was refused: the status moved first, or the change is not allowed. */
export class StatusChangeError extends SquirrelError {
  readonly code = 'STATUS_CHANGE';
  constructor(readonly clusterId: string, readonly from: string, readonly to: string, readonly found: string, details: ErrorDetails = {}) {
    super(from === found ? `cluster ${clusterId}: status ${from} may not change to ${to}` : `cluster ${clusterId}: status is ${found}, not ${from}; not changed to ${to}`, details);
  }
}

/** The durable position is not where this agent left it: something else advanced it. */
export class PositionConflictError extends SquirrelError {
  readonly code = 'POSITION_CONFLICT';
  constructor(readonly clusterId: string, readonly expectedSeq: number, readonly foundSeq: number, details: ErrorDetails = {}) {
    super(`durable position of ${clusterId} is at seq ${foundSeq}, expected ${expectedSeq}`, {
      hint: 'Another agent advanced this cluster. Stop this agent and check `squirrel status`.',
      ...details,
    });
  }
}

/** Server error codes after which the same request can succeed later (overload, shutdown, kill). */
const transientServerErrors: ReadonlySet<number> = new Set([1040, 1053, 1205, 1213, 1927]);

/** The database server answered a command with an ERR packet; carries its code and message. */
export class ServerError extends SquirrelError {
  readonly code: string = 'SERVER';
  override readonly retryable: boolean;
  constructor(
    readonly target: string,
    readonly operation: string,
    readonly errno: number,
    readonly sqlState: string | undefined,
    readonly serverMessage: string,
    details: ErrorDetails = {},
  ) {
    super(`${operation} on ${target}: server error ${errno}${sqlState ? ` (${sqlState})` : ''}: ${serverMessage}`, details);
    this.retryable = transientServerErrors.has(errno);
  }
}

/**
 * The binlog dump cannot start where asked: the file was purged, or no binlog still holds the
 * GTID position (MariaDB/MySQL error 1236). Not retryable: only a new base backup helps.
 */
export class BinlogPurgedError extends ServerError {
  override readonly code = 'BINLOG_PURGED';
  constructor(
    target: string,
    /** What was asked for: `file:pos` or `gtid <position>`. */
    readonly position: string,
    errno: number,
    sqlState: string | undefined,
    serverMessage: string,
    details: ErrorDetails = {},
  ) {
    super(target, `binlog dump from ${position}`, errno, sqlState, serverMessage, {
      hint:
        'The server no longer has the binlog this position needs (purged, or expired by binlog_expire_logs_seconds). ' +
        'Streaming cannot resume without a gap: take a new base backup and start streaming from its position, ' +
        'and keep binlogs longer than the agent can be down.',
      ...details,
    });
  }
}

/** A chunk key already holds different bytes than the ones this agent would write there. */
export class ChunkConflictError extends SquirrelError {
  readonly code = 'CHUNK_CONFLICT';
  constructor(readonly key: string, readonly storedSha256: string, readonly ourSha256: string, details: ErrorDetails = {}) {
    super(`chunk ${key} already exists with sha-256 ${storedSha256 || '(none)'}, this agent has ${ourSha256}`, {
      hint: 'The server\'s binlog no longer matches what was streamed (was it reset, or restored from elsewhere?). Do not delete the object; run `squirrel verify` and investigate.',
      ...details,
    });
  }
}

/** The server fails checks the agent cannot run without (preflight's fatal verdicts). */
export class ServerConfigError extends SquirrelError {
  readonly code = 'SERVER_CONFIG';
  constructor(readonly server: string, readonly failures: string[], details: ErrorDetails = {}) {
    super(`server ${server} cannot be protected as configured: ${failures.join('; ')}`, {
      hint: 'Run `squirrel preflight` for the exact my.cnf lines and GRANT statements that fix each problem.',
      ...details,
    });
  }
}

/**
 * A restore cannot give what was asked without a hole: a chunk is missing or damaged, the chain
 * has a gap, a base backup is damaged, or no base backup can reach the target. Names the object.
 * Nothing past the last good transaction has been applied when this is thrown.
 */
export class RestoreRefusedError extends SquirrelError {
  readonly code = 'RESTORE_REFUSED';
  constructor(readonly object: string, message: string, details: ErrorDetails = {}) {
    super(`restore refused: ${object}: ${message}`, details);
  }
}

/** A base backup was taken but cannot be marked complete (its binlog did not become durable in time). */
export class BackupIncompleteError extends SquirrelError {
  readonly code = 'BACKUP_INCOMPLETE';
  override readonly retryable = true;
  constructor(readonly backupId: string, message: string, details: ErrorDetails = {}) {
    super(`base backup ${backupId} is incomplete: ${message}`, details);
  }
}

/**
 * The binlog cannot be served (or replayed) past this object: a chunk is missing, its bytes do not
 * match their SHA-256 or an event its CRC32, or the chain of chunks has a gap. Names the object.
 */
export class BinlogChainError extends SquirrelError {
  readonly code = 'BINLOG_CHAIN';
  constructor(readonly object: string, message: string, details: ErrorDetails = {}) {
    super(`binlog chain broken at ${object}: ${message}`, {
      hint: 'Run `squirrel verify` to list every damaged or missing chunk. Nothing past the last good transaction before this object can be served.',
      ...details,
    });
  }
}

/** A server replaying the binlog as a replica of the fake primary stopped short of its target. */
export class ReplayError extends SquirrelError {
  readonly code = 'REPLAY';
  constructor(readonly target: string, message: string, details: ErrorDetails = {}) {
    super(`replay into ${target} failed: ${message}`, details);
  }
}

/** AWS refused or could not find our credentials. */
export class CredentialsError extends SquirrelError {
  readonly code = 'CREDENTIALS';
  constructor(readonly service: string, message: string, details: ErrorDetails = {}) {
    super(`${service} credentials: ${message}`, {
      hint: 'Set AWS credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or an instance role) with access to the bucket and table; for the local stand-ins, source the env file that `squirrel local up` wrote.',
      ...details,
    });
  }
}

/** Turns the SDK's credential failures into CredentialsError; undefined for other errors. */
export function credentialsFailure(service: string, err: unknown): CredentialsError | undefined {
  const name = (err as { name?: string }).name ?? '';
  const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  const known = ['CredentialsProviderError', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'UnrecognizedClientException', 'InvalidSignatureException', 'ExpiredToken', 'ExpiredTokenException', 'AccessDenied', 'AccessDeniedException'];
  if (known.includes(name) || status === 403) return new CredentialsError(service, (err as Error).message, { cause: err });
  return undefined;
}

/**
 * A graceful stop gave up before it finished (its bound, `stopTimeoutMs`, ran out, or a second
 * signal asked to stop now). Nothing is lost: what was not stored is after the durable position,
 * which a restarted agent reads the binlog from again.
 */
export class StopCutShortError extends SquirrelError {
  readonly code = 'STOP_CUT_SHORT';
  constructor(readonly why: string, details: ErrorDetails = {}) {
    super(`stop cut short: ${why}`, {
      hint: 'Start the agent again: it resumes from the durable position and stores what this one did not.',
      ...details,
    });
  }
}

/**
 * The epoch is claimed but its primary is not promoted yet: its timeline has no start to stream
 * from. Retryable: `squirrel promote` on that server records the start, and the agent joins then.
 */
export class TimelinePendingError extends SquirrelError {
  readonly code = 'TIMELINE_PENDING';
  override readonly retryable = true;
  constructor(readonly clusterId: string, readonly epoch: number, readonly primary: string, details: ErrorDetails = {}) {
    super(`epoch ${epoch} of cluster ${clusterId} is claimed for ${primary} but not started: its primary has not been promoted`, {
      hint: 'Restore onto that server and run `squirrel promote` there: it records where the epoch begins, and the agent joins then.',
      ...details,
    });
  }
}

/**
 * The agent could not renew its lease for `leaseMs` (measured on its own monotonic clock from the
 * send time of its last successful renewal), so it fenced its own server: the control plane may
 * claim the next epoch once the lease has expired plus a margin (docs/fencing.md).
 */
export class SelfFencedError extends SquirrelError {
  readonly code = 'SELF_FENCED';
  constructor(readonly clusterId: string, readonly epoch: number, readonly sinceRenewalMs: number, readonly leaseMs: number, details: ErrorDetails = {}) {
    super(`the lease of cluster ${clusterId} (epoch ${epoch}) was not renewed for ${sinceRenewalMs} ms (leaseMs ${leaseMs}): this agent fenced its own server`, {
      hint: 'The state store (DynamoDB) was unreachable from this host, or too slow, for a whole lease. The server stays read-only: run `squirrel status`; if no other epoch was claimed, promote this server again or rebuild it from a restore (docs/fencing.md).',
      ...details,
    });
  }
}

/** An epoch's timeline start cannot be recorded: it began already (its start is recorded, or chunks of it are durable). */
export class TimelineStartedError extends SquirrelError {
  readonly code = 'TIMELINE_STARTED';
  constructor(
    readonly clusterId: string,
    readonly epoch: number,
    readonly start: { file: string; pos: number; gtid: string },
    readonly durableSeq: number,
    details: ErrorDetails = {},
  ) {
    super(`epoch ${epoch} of cluster ${clusterId} began already at ${start.file}:${start.pos}${durableSeq > 0 ? ` and has ${durableSeq} durable chunk(s)` : ''}`, {
      hint: 'An epoch begins once. To make another server the primary, claim the next epoch for it (`squirrel claim`), restore onto it, and promote it.',
      ...details,
    });
  }
}

/**
 * The agent's server does not continue the epoch's chain: its binlog at the durable position does
 * not end with the bytes of the last durable chunk, or its GTID position lacks the durable one.
 * Names the epoch, the object compared (the chunk key, or the durable GTID position), the server
 * and what differs. Not retryable: the same server gives the same answer.
 */
export class LineageError extends SquirrelError {
  readonly code = 'LINEAGE';
  constructor(
    readonly clusterId: string,
    readonly epoch: number,
    readonly server: string,
    /** The chunk key compared, or `gtid <position>` for the GTID check. */
    readonly object: string,
    readonly difference: string,
    details: ErrorDetails = {},
  ) {
    super(`server ${server} does not continue epoch ${epoch} of cluster ${clusterId} at ${object}: ${difference}`, {
      hint:
        "This server's binlog is not the one the epoch's chunks were read from: it was reset, restored from elsewhere, or another server now answers at this address. " +
        'Do not stream it under this epoch. Rebuild it with `squirrel restore` (to latest) and `squirrel promote`, and claim a new epoch for it; check `squirrel status` for the server the epoch belongs to.',
      ...details,
    });
  }
}

/**
 * `squirrel promote` refused, before changing anything: the server has not applied exactly the
 * restore target, or the epoch it would write under is not claimed for it. Lists every reason.
 */
export class PromoteRefusedError extends SquirrelError {
  readonly code = 'PROMOTE_REFUSED';
  constructor(readonly server: string, readonly reasons: string[], details: ErrorDetails = {}) {
    super(`promote refused for ${server}: ${reasons.join('; ')}`, details);
  }
}
