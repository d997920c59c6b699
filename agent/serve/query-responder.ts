/**
 * Answers the statements replicas and binlog clients send before a dump. Pure: SQL text and the
 * session's user variables in, an answer out (no I/O, `now` passed in).
 *
 * What connects, and what it sends (seen in a MariaDB 10.11 primary's general log, and in sql/slave.cc):
 * - a 10.11 replica (CHANGE MASTER TO ... MASTER_USE_GTID=slave_pos; START SLAVE):
 *     SELECT UNIX_TIMESTAMP()                     (clock difference)
 *     SHOW VARIABLES LIKE 'SERVER_ID'             (must differ from its own)
 *     SET @master_heartbeat_period= <ns>
 *     SET @master_binlog_checksum= @@global.binlog_checksum
 *     SELECT @master_binlog_checksum
 *     SET @mariadb_slave_capability=4
 *     SELECT @@GLOBAL.gtid_domain_id
 *     SET @slave_connect_state='<gtid list>'
 *     SET @slave_gtid_strict_mode=1
 *     SET @slave_gtid_ignore_duplicates=0
 *     SET @slave_until_gtid='<gtid list>'         (START SLAVE UNTIL master_gtid_pos=...)
 *   then COM_REGISTER_SLAVE and COM_BINLOG_DUMP (file '', position 4).
 * - mariadb-binlog --read-from-remote-server 10.11:
 *     SELECT VERSION()
 *     SET @master_binlog_checksum='NONE'          (it still receives CRC32 events: it reads each FDE)
 *     SET @mariadb_slave_capability=4
 *   then COM_BINLOG_DUMP with a file name.
 * Understood here: SET of user variables (literals, @@system variables), SELECT of user and system
 * variables, UNIX_TIMESTAMP(), VERSION() and literals, SHOW [GLOBAL|SESSION] VARIABLES LIKE, and
 * any other SET (ignored, OK). Anything else is answered with ER_NOT_SUPPORTED_YET naming the statement.
 */
import { ColumnType, type ResultColumn } from './responses.js';
import { ServerErrorCode } from '../protocol/server-packets.js';

export type SqlValue = string | number | bigint | null;

export type QueryAnswer =
  | { kind: 'ok' }
  | { kind: 'rows'; columns: ResultColumn[]; rows: (string | null)[][] }
  | { kind: 'error'; errno: number; sqlState: string; message: string };

/** The fake primary's global system variables, names lowercase. */
export type SystemVariables = Readonly<Record<string, string | number>>;

function unsupported(sql: string): QueryAnswer {
  const shown = sql.length > 120 ? `${sql.slice(0, 117)}...` : sql;
  return { kind: 'error', errno: ServerErrorCode.ER_NOT_SUPPORTED_YET, sqlState: '42000', message: `squirrel serve does not support this statement: ${shown}` };
}

/** Splits on commas that are outside quotes and parentheses. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote = '';
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = '';
    } else if (c === "'" || c === '"' || c === '`') quote = c;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts.map((p) => p.trim());
}

function unquote(text: string): string {
  const q = text[0]!;
  const body = text.slice(1, -1);
  return body.replace(new RegExp(`\\\\(.)|${q}${q}`, 'g'), (m: string, escaped: string | undefined) => {
    if (escaped === undefined) return q;
    return { n: '\n', t: '\t', r: '\r', '0': '\0' }[escaped] ?? escaped;
  });
}

/** One statement's session: the user variables it has set, and the server's variables. */
export class QueryResponder {
  private readonly userVars = new Map<string, SqlValue>();

  constructor(
    private readonly system: SystemVariables,
    /** For VERSION(): the version without the `5.5.5-` prefix of the handshake. */
    private readonly version: string,
  ) {}

  /** A user variable's value (`@name`, name without the @, case-insensitive); undefined when never set. */
  variable(name: string): SqlValue | undefined {
    return this.userVars.get(name.toLowerCase());
  }

  answer(sql: string, nowMs: number): QueryAnswer {
    const text = sql.trim().replace(/;\s*$/, '');
    if (/^set\s/i.test(text)) return this.set(text.slice(3).trim());
    if (/^select\s/i.test(text)) return this.select(text.slice(6).trim(), nowMs);
    const show = /^show\s+(?:(?:global|session)\s+)?variables\s+like\s+('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")$/i.exec(text);
    if (show) return this.showVariables(unquote(show[1]!));
    return unsupported(sql);
  }

  private set(assignments: string): QueryAnswer {
    // SET NAMES, SET SESSION x=..., SET @@x=...: nothing the dump depends on
    if (!assignments.startsWith('@') || assignments.startsWith('@@')) return { kind: 'ok' };
    const values: [string, SqlValue][] = [];
    for (const part of splitTopLevel(assignments)) {
      const m = /^@([A-Za-z0-9_.$]+)\s*:?=\s*([\s\S]+)$/.exec(part);
      if (!m) return unsupported(`SET ${assignments}`);
      const value = this.evaluate(m[2]!.trim(), 0);
      if (value === undefined) return unsupported(`SET ${assignments}`);
      values.push([m[1]!.toLowerCase(), value]);
    }
    for (const [name, value] of values) this.userVars.set(name, value);
    return { kind: 'ok' };
  }

  /** Evaluates a literal, a variable or one of the few functions; undefined when not understood. */
  private evaluate(expr: string, nowMs: number): SqlValue | undefined {
    if (/^null$/i.test(expr)) return null;
    if (/^-?\d+$/.test(expr)) {
      const n = BigInt(expr);
      return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
    }
    if (/^'(?:[^'\\]|\\.|'')*'$/.test(expr) || /^"(?:[^"\\]|\\.|"")*"$/.test(expr)) return unquote(expr);
    const sys = /^@@(?:(?:global|session|local)\.)?([A-Za-z0-9_]+)$/i.exec(expr);
    if (sys) {
      const v = this.system[sys[1]!.toLowerCase()];
      return v === undefined ? undefined : v;
    }
    const user = /^@([A-Za-z0-9_.$]+)$/.exec(expr);
    if (user) return this.userVars.get(user[1]!.toLowerCase()) ?? null;
    if (/^unix_timestamp\(\s*\)$/i.test(expr)) return Math.floor(nowMs / 1000);
    if (/^version\(\s*\)$/i.test(expr)) return this.version;
    return undefined;
  }

  private select(list: string, nowMs: number): QueryAnswer {
    const body = list.replace(/\s+limit\s+\d+$/i, '');
    const columns: ResultColumn[] = [];
    const row: (string | null)[] = [];
    for (const item of splitTopLevel(body)) {
      const m = /^([\s\S]+?)(?:\s+as\s+(`[^`]+`|'[^']*'|"[^"]*"|[A-Za-z0-9_]+))?$/i.exec(item);
      const expr = m?.[1]?.trim() ?? item;
      const value = this.evaluate(expr, nowMs);
      if (value === undefined) return unsupported(`SELECT ${list}`);
      const alias = m?.[2];
      columns.push({
        name: alias ? (/^[`'"]/.test(alias) ? alias.slice(1, -1) : alias) : expr,
        type: typeof value === 'number' || typeof value === 'bigint' ? ColumnType.LONGLONG : ColumnType.VAR_STRING,
      });
      row.push(value === null ? null : String(value));
    }
    return { kind: 'rows', columns, rows: [row] };
  }

  private showVariables(pattern: string): QueryAnswer {
    const re = new RegExp(
      `^${pattern.replace(/\\(.)|[%_]|[.*+?^${}()|[\]]/g, (m: string, escaped: string | undefined) => (escaped !== undefined ? escaped.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') : m === '%' ? '.*' : m === '_' ? '.' : `\\${m}`))}$`,
      'i',
    );
    const rows = Object.entries(this.system)
      .filter(([name]) => re.test(name))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, value]) => [name, String(value)]);
    return {
      kind: 'rows',
      columns: [
        { name: 'Variable_name', type: ColumnType.VAR_STRING },
        { name: 'Value', type: ColumnType.VAR_STRING },
      ],
      rows,
    };
  }
}
