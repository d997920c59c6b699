/**
 * Transaction boundaries: which event ends a transaction, and after which event no transaction is
 * open (where a chunk may end). Pure; shared by `inspect` and the chunker. Every rule lives here.
 *
 * An event group (transaction) in the binlog is one of:
 *   MariaDB   GTID ... XID | GTID ... QUERY COMMIT/ROLLBACK        (GTID replaces BEGIN)
 *             GTID[FL_STANDALONE] statement                        (DDL: no COMMIT, no XID)
 *   MySQL 5.6+ GTID|ANONYMOUS_GTID|GTID_TAGGED, then either
 *             QUERY BEGIN ... XID | QUERY COMMIT/ROLLBACK | XA_PREPARE, or
 *             one statement (DDL, XA COMMIT), or
 *             one TRANSACTION_PAYLOAD (the whole transaction, compressed)
 *   any flavour, no GTIDs (MySQL < 5.6, MariaDB < 10.0, gtid_mode=OFF before 5.7.6):
 *             QUERY BEGIN ... XID | QUERY COMMIT/ROLLBACK, or one auto-committed statement
 *             (preceded by its INTVAR/RAND/USER_VAR context events), or, in MySQL 5.1 for
 *             non-transactional tables, TABLE_MAP + row events without BEGIN, the last one
 *             flagged STMT_END
 * ROTATE and STOP end the file; an open group there is cut off (reported, not counted).
 *
 * Statement text rules: "BEGIN" and "XA START|BEGIN ..." open a transaction; "COMMIT", "ROLLBACK"
 * (not "ROLLBACK TO SAVEPOINT") and "XA COMMIT|ROLLBACK ..." end one; servers write these
 * exactly so. MariaDB QUERY_COMPRESSED is always a plain statement: servers compress only statements
 * of log_bin_compress_min_len (>= 10) bytes or more, never BEGIN or COMMIT.
 */
import type { DecodedEvent } from './decode.js';
import { EventType } from './event-types.js';
import { RowsFlag } from './rows-header.js';

/** What one event means for transaction boundaries. */
export type TransactionRole =
  /** MariaDB GTID without FL_STANDALONE: a group that ends with XID or COMMIT/ROLLBACK. */
  | 'gtid-begin'
  /** MariaDB GTID with FL_STANDALONE: the group is the next statement alone. */
  | 'gtid-standalone'
  /** MySQL GTID/ANONYMOUS_GTID/GTID_TAGGED: a BEGIN next opens a transaction; any other statement is the whole group. */
  | 'gtid'
  /** QUERY BEGIN, XA START. */
  | 'begin'
  /** XID, XA_PREPARE, TRANSACTION_PAYLOAD, QUERY COMMIT/ROLLBACK/XA COMMIT/XA ROLLBACK. */
  | 'commit'
  /** Any other statement: QUERY, QUERY_COMPRESSED, EXECUTE_LOAD_QUERY, v3 LOAD/EXEC_LOAD, the last row event of a statement. */
  | 'statement'
  /** Belongs to the statement or transaction around it: rows, table maps, INTVAR/RAND/USER_VAR, annotations, LOAD DATA blocks. */
  | 'part'
  /** ROTATE, STOP: the file ends. */
  | 'file-end'
  /** Neutral: FORMAT_DESCRIPTION, PREVIOUS_GTIDS, GTID_LIST, BINLOG_CHECKPOINT, heartbeats, unknown types. */
  | 'none';

/** How a statement's text bears on transaction boundaries. */
export function classifyStatement(sql: string): 'begin' | 'commit' | 'statement' {
  const s = sql.trim();
  if (/^BEGIN$/i.test(s) || /^XA\s+(START|BEGIN)\b/i.test(s)) return 'begin';
  if (/^(COMMIT|ROLLBACK)$/i.test(s) || /^XA\s+(COMMIT|ROLLBACK)\b/i.test(s)) return 'commit';
  return 'statement';
}

const partTypes: ReadonlySet<number> = new Set([
  EventType.INTVAR,
  EventType.RAND,
  EventType.USER_VAR,
  EventType.TABLE_MAP,
  EventType.ROWS_QUERY,
  EventType.MARIA_ANNOTATE_ROWS,
  EventType.BEGIN_LOAD_QUERY,
  EventType.APPEND_BLOCK,
  EventType.CREATE_FILE,
  EventType.DELETE_FILE,
]);

const statementTypes: ReadonlySet<number> = new Set([
  EventType.MARIA_QUERY_COMPRESSED,
  EventType.EXECUTE_LOAD_QUERY,
  EventType.LOAD,
  EventType.NEW_LOAD,
  EventType.EXEC_LOAD,
]);

/** The role of a decoded event. */
export function transactionRole(ev: DecodedEvent): TransactionRole {
  switch (ev.kind) {
    case 'maria-gtid':
      return ev.gtid.standalone ? 'gtid-standalone' : 'gtid-begin';
    case 'mysql-gtid':
      return 'gtid';
    case 'query':
      return classifyStatement(ev.query.statement);
    case 'xid':
    case 'transaction-payload':
      return 'commit';
    case 'rows':
      // A row event that ends its statement ends an auto-committed group (MySQL 5.1 MyISAM rows
      // without BEGIN); inside BEGIN it is only a part, like any statement.
      return ev.rows.flags & RowsFlag.STMT_END ? 'statement' : 'part';
    case 'rotate':
      return 'file-end';
    case 'format-description':
    case 'start-v3':
    case 'maria-gtid-list':
      return 'none';
    case 'other':
      if (ev.typeCode === EventType.STOP) return 'file-end';
      if (ev.typeCode === EventType.XA_PREPARE) return 'commit';
      if (partTypes.has(ev.typeCode)) return 'part';
      if (statementTypes.has(ev.typeCode)) return 'statement';
      return 'none';
  }
}

export interface TransactionStep {
  /** This event completed a transaction. */
  ended: boolean;
  /** No transaction is open after this event: a chunk may end here. */
  boundary: boolean;
  /** Offset of a group this event cut off before it ended (a new GTID, or the end of the file). */
  cutOff?: number;
}

type State =
  /** Between transactions. */
  | 'idle'
  /** Inside BEGIN (or a MariaDB GTID group): waits for a commit. */
  | 'open'
  /** The next statement completes the group. */
  | 'single'
  /** After a MySQL GTID: BEGIN opens, a statement completes. */
  | 'after-gtid';

/** Follows transaction boundaries through a sequence of events. */
export class TransactionTracker {
  private state: State = 'idle';
  private start = 0;
  private count = 0;

  /** Transactions completed so far. */
  get completed(): number {
    return this.count;
  }

  /** Offset of the first event of the open transaction, or undefined between transactions. */
  get openSince(): number | undefined {
    return this.state === 'idle' ? undefined : this.start;
  }

  /** Feeds the next event's role; `offset` is where the event starts (for `cutOff` and `openSince`). */
  step(role: TransactionRole, offset = 0): TransactionStep {
    let ended = false;
    let cutOff: number | undefined;
    const open = (state: State): void => {
      if (this.state !== 'idle') cutOff = this.start;
      this.state = state;
      this.start = offset;
    };
    switch (role) {
      case 'gtid-begin':
        open('open');
        break;
      case 'gtid-standalone':
        open('single');
        break;
      case 'gtid':
        open('after-gtid');
        break;
      case 'begin':
        if (this.state === 'idle') this.start = offset;
        this.state = 'open';
        break;
      case 'commit':
        ended = true;
        break;
      case 'statement':
        ended = this.state !== 'open';
        break;
      case 'part':
        if (this.state === 'idle') {
          this.state = 'single';
          this.start = offset;
        }
        break;
      case 'file-end':
        if (this.state !== 'idle') cutOff = this.start;
        this.state = 'idle';
        break;
      case 'none':
        break;
    }
    if (ended) {
      this.count++;
      this.state = 'idle';
    }
    return { ended, boundary: this.state === 'idle', ...(cutOff === undefined ? {} : { cutOff }) };
  }
}
