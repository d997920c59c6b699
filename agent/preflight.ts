import mysql from 'mysql2/promise';
import { parseMysqlUrl } from './config.js';
import { AuthenticationError, ConnectionError } from './errors.js';

/**
 * Can this server be protected? `evaluate` is a pure function from what the server reports
 * (`ServerFacts`) to one verdict per requirement (DESIGN.md, "Server requirements the agent
 * checks at start", plus the account's privileges), each with the exact fix. `gatherFacts`
 * is the thin part that asks the server.
 */
export type Verdict = 'ok' | 'warn' | 'fatal';

export interface Check {
  name: string;
  /** What the server has, as shown to the operator. */
  found: string;
  required: string;
  verdict: Verdict;
  /** The exact line(s) to add to the option file, or the SQL to run, when the verdict is not ok. */
  fix?: string;
  fixKind?: 'my.cnf' | 'sql';
  /** For dynamic variables: the statement that applies the fix at once (my.cnf keeps it after a restart). */
  applyNow?: string;
}

export type Flavour = 'mariadb' | 'mysql';

export interface ServerFacts {
  /** `SELECT VERSION()`, e.g. `10.11.19-MariaDB-0+deb12u1-log`. */
  version: string;
  /** Global variables by lower-case name, values as the server prints them (`ON`, `ROW`, `1`). */
  variables: Record<string, string>;
  /** `SHOW GRANTS` lines for the connected account. */
  grants: string[];
  /** `CURRENT_USER()`, split: the account the server matched, which GRANT statements name. */
  account: { user: string; host: string };
  /** Base tables in engines without transactions, outside the system schemas, as far as the account can see. */
  nonTransactionalTables: { schema: string; table: string; engine: string }[];
  /** The server_id the agent registers with (config `serverId`). */
  agentServerId: number;
}

export function flavourOf(version: string): Flavour {
  return /mariadb/i.test(version) ? 'mariadb' : 'mysql';
}

/** Option-file section each flavour reads (MariaDB also reads [mysqld]; [mariadbd] is its own). */
export function optionSection(flavour: Flavour): string {
  return flavour === 'mariadb' ? '[mariadbd]' : '[mysqld]';
}

/** Privileges granted ON *.* (upper case, single spaces); `ALL` stands for ALL PRIVILEGES. */
export function globalPrivileges(grants: readonly string[]): Set<string> {
  const privileges = new Set<string>();
  for (const line of grants) {
    const m = /^GRANT\s+(.+?)\s+ON\s+(\S+)\s+TO\s/i.exec(line.trim());
    if (!m || !m[1] || m[2]?.replace(/`/g, '') !== '*.*') continue;
    for (const raw of m[1].split(',')) {
      const p = raw.trim().replace(/\s+/g, ' ').toUpperCase();
      privileges.add(p === 'ALL PRIVILEGES' ? 'ALL' : p);
    }
  }
  return privileges;
}

/** Names that mean the same privilege (MariaDB 10.5 renamed some and kept the old names as aliases). */
const aliases: Record<string, string[]> = {
  'REPLICATION SLAVE': ['REPLICATION REPLICA'],
  'BINLOG MONITOR': ['REPLICATION CLIENT'],
  'REPLICATION CLIENT': ['BINLOG MONITOR'],
};

function holds(privileges: Set<string>, privilege: string): boolean {
  return privileges.has('ALL') || privileges.has(privilege) || (aliases[privilege] ?? []).some((a) => privileges.has(a));
}

function versionNumber(version: string): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(version);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

const atLeast = (v: [number, number], major: number, minor: number): boolean => v[0] > major || (v[0] === major && v[1] >= minor);

const isOn = (value: string | undefined): boolean => value !== undefined && ['ON', '1', 'TRUE'].includes(value.toUpperCase());

function quoteAccount(account: { user: string; host: string }): string {
  const q = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  return `${q(account.user)}@${q(account.host)}`;
}

const quoteIdent = (s: string): string => `\`${s.replace(/`/g, '``')}\``;

/** The lossless mode the checks are for (config `lossless`): `off` asks nothing of semi-sync. */
export type LosslessMode = 'off' | 'strict' | 'best-effort';

export interface EvaluateOptions {
  /** @default 'off' */
  lossless?: LosslessMode;
}

/**
 * The smallest `rpl_semi_sync_master_timeout` strict mode accepts, in milliseconds: one hour.
 * A primary falls back to asynchronous commits once a commit has waited this long, so the
 * timeout must outlast anything that keeps the agent from acknowledging while the primary lives
 * (an agent restart: seconds; S3 or DynamoDB unreachable: as long as that lasts).
 */
export const STRICT_MIN_TIMEOUT_MS = 3_600_000;

/** The timeout preflight suggests for strict mode: 2^32-1 ms (49.7 days), in range on MariaDB and MySQL. */
export const STRICT_TIMEOUT_MS = '4294967295';

/** One check per requirement, in the order an operator would fix them. */
export function evaluate(facts: ServerFacts, opts: EvaluateOptions = {}): Check[] {
  const flavour = flavourOf(facts.version);
  const v = (name: string): string | undefined => facts.variables[name];
  const shown = (name: string): string => v(name) ?? 'not set';
  const checks: Check[] = [];

  /** A variable that must equal `wanted`; `dynamic` ones also get a SET GLOBAL to apply at once. */
  const variable = (name: string, wanted: string, verdict: Verdict, dynamic: boolean, ok = v(name)?.toUpperCase() === wanted.toUpperCase()): void => {
    checks.push({
      name,
      found: shown(name),
      required: wanted,
      verdict: ok ? 'ok' : verdict,
      ...(ok ? {} : { fix: `${name} = ${wanted}`, fixKind: 'my.cnf' as const, ...(dynamic ? { applyNow: `SET GLOBAL ${name} = ${/^\d+$/.test(wanted) ? wanted : `'${wanted}'`};` } : {}) }),
    });
  };

  const version = versionNumber(facts.version);
  const supported = flavour === 'mariadb' ? atLeast(version, 10, 6) : atLeast(version, 8, 0);
  checks.push({
    name: 'version',
    found: facts.version,
    required: flavour === 'mariadb' ? 'MariaDB 10.6 or later' : 'MySQL 8.0 or later',
    verdict: supported ? 'ok' : 'warn',
  });

  const binlogOn = isOn(v('log_bin'));
  checks.push({
    name: 'log_bin',
    found: shown('log_bin'),
    required: 'ON',
    verdict: binlogOn ? 'ok' : 'fatal',
    ...(binlogOn ? {} : { fix: `log_bin = ${flavour === 'mariadb' ? 'mariadb-bin' : 'mysql-bin'}`, fixKind: 'my.cnf' as const }),
  });
  variable('binlog_format', 'ROW', 'fatal', true);
  variable('binlog_row_image', 'FULL', 'fatal', true);

  const serverId = Number(v('server_id') ?? 0);
  const idOk = serverId !== 0 && serverId !== facts.agentServerId;
  const suggestion = facts.agentServerId === 1 ? 2 : 1; // any value unique in the topology
  checks.push({
    name: 'server_id',
    found: shown('server_id'),
    required: `nonzero, unique, not the agent's ${facts.agentServerId}`,
    verdict: idOk ? 'ok' : 'fatal',
    ...(idOk
      ? {}
      : { fix: `server_id = ${suggestion}`, fixKind: 'my.cnf' as const }),
  });

  if (flavour === 'mariadb') {
    variable('gtid_strict_mode', 'ON', 'fatal', true, isOn(v('gtid_strict_mode')));
  } else {
    variable('gtid_mode', 'ON', 'fatal', false);
    variable('enforce_gtid_consistency', 'ON', 'fatal', false, isOn(v('enforce_gtid_consistency')));
  }
  variable('binlog_checksum', 'CRC32', 'fatal', true);
  variable('sync_binlog', '1', 'warn', true);
  variable('innodb_flush_log_at_trx_commit', '1', 'warn', true);
  const lossless = opts.lossless ?? 'off';
  if (lossless !== 'off') checks.push(...semiSyncChecks(flavour, facts.variables, lossless));

  const privileges = globalPrivileges(facts.grants);
  checks.push(...privilegeChecks(flavour, version, privileges, quoteAccount(facts.account)));

  const tables = facts.nonTransactionalTables;
  const canSeeAll = holds(privileges, 'SELECT');
  const listed = tables.slice(0, 10).map((t) => `${t.schema}.${t.table} (${t.engine})`);
  if (tables.length > 10) listed.push(`and ${tables.length - 10} more`);
  checks.push({
    name: 'non-transactional tables',
    found: tables.length > 0 ? `${tables.length}: ${listed.join(', ')}` : canSeeAll ? 'none' : 'none visible (no SELECT on *.*, so not all tables were seen)',
    required: 'none: their changes can be half-applied on restore',
    verdict: tables.length > 0 || !canSeeAll ? 'warn' : 'ok',
    ...(tables.length > 0
      ? { fix: tables.map((t) => `ALTER TABLE ${quoteIdent(t.schema)}.${quoteIdent(t.table)} ENGINE=InnoDB;`).join('\n'), fixKind: 'sql' as const }
      : {}),
  });
  return checks;
}

/**
 * Lossless mode's requirements on the primary's semi-sync settings (DESIGN.md, replication
 * protocol facts): on, waiting AFTER_SYNC, waiting with no replica connected, and, in strict
 * mode, a timeout long enough that commits wait rather than fall back. MariaDB names them
 * `rpl_semi_sync_master_*`; MySQL 8.0.26+ `rpl_semi_sync_source_*` (its plugin loaded).
 */
function semiSyncChecks(flavour: Flavour, variables: Record<string, string>, mode: Exclude<LosslessMode, 'off'>): Check[] {
  const side = variables.rpl_semi_sync_source_enabled !== undefined || (flavour === 'mysql' && variables.rpl_semi_sync_master_enabled === undefined) ? 'source' : 'master';
  const name = (what: string): string => `rpl_semi_sync_${side}_${what}`;
  const found = (what: string): string | undefined => variables[name(what)];
  const strict = mode === 'strict';
  const fixOf = (what: string, wanted: string): Pick<Check, 'fix' | 'fixKind' | 'applyNow'> => ({
    fix: `${name(what)} = ${wanted}`,
    fixKind: 'my.cnf',
    applyNow: `SET GLOBAL ${name(what)} = ${/^\d+$/.test(wanted) ? wanted : `'${wanted}'`};`,
  });
  const check = (what: string, required: string, ok: boolean, verdict: Verdict, wanted: string, extra: Partial<Check> = {}): Check => ({
    name: name(what),
    found: found(what) ?? 'not set',
    required,
    verdict: ok ? 'ok' : verdict,
    ...(ok ? {} : fixOf(what, wanted)),
    ...extra,
  });
  const checks: Check[] = [];
  if (flavour === 'mysql' && found('enabled') === undefined) {
    checks.push({
      name: 'semi-sync plugin',
      found: 'not loaded',
      required: 'semisync_source loaded (lossless mode)',
      verdict: strict ? 'fatal' : 'warn',
      fix: 'plugin_load_add = semisync_source.so',
      fixKind: 'my.cnf',
    });
  }
  checks.push(check('enabled', `ON (lossless: ${mode}${strict ? '' : '; else the agent streams asynchronously'})`, isOn(found('enabled')), strict ? 'fatal' : 'warn', 'ON'));
  const point = (found('wait_point') ?? '').toUpperCase();
  checks.push(
    check('wait_point', 'AFTER_SYNC: with AFTER_COMMIT other sessions read a commit before squirrel has it, and a failover then loses what they saw', point === 'AFTER_SYNC', 'fatal', 'AFTER_SYNC'),
  );
  checks.push(
    check(
      'wait_no_slave',
      strict ? 'ON: with OFF the primary stops waiting whenever the agent is not connected' : 'ON (OFF: commits stop waiting while the agent reconnects)',
      isOn(found('wait_no_slave')),
      strict ? 'fatal' : 'warn',
      'ON',
    ),
  );
  const timeout = Number(found('timeout') ?? NaN);
  checks.push(
    strict
      ? check('timeout', `>= ${STRICT_MIN_TIMEOUT_MS} ms: commits wait for the agent rather than fall back`, timeout >= STRICT_MIN_TIMEOUT_MS, 'fatal', STRICT_TIMEOUT_MS)
      : check('timeout', 'any: after it a commit falls back to asynchronous (reported by status and the SemiSyncFallback metric)', true, 'ok', ''),
  );
  return checks;
}

function privilegeChecks(flavour: Flavour, version: [number, number], granted: Set<string>, account: string): Check[] {
  let privileges = granted;
  const checks: Check[] = [];
  const grant = (missing: string[]): { fix: string; fixKind: 'sql' } => ({ fix: `GRANT ${missing.join(', ')} ON *.* TO ${account};`, fixKind: 'sql' });
  const need = (name: string, needed: string[], verdict: Verdict): void => {
    const missing = needed.filter((p) => !holds(privileges, p));
    checks.push({
      name,
      found: missing.length === 0 ? 'granted' : `missing ${missing.join(', ')}`,
      required: needed.join(', '),
      verdict: missing.length === 0 ? 'ok' : verdict,
      ...(missing.length === 0 ? {} : grant(missing)),
    });
  };
  const monitor = flavour === 'mariadb' && atLeast(version, 10, 5) ? 'BINLOG MONITOR' : 'REPLICATION CLIENT';
  need('privilege: binlog stream', ['REPLICATION SLAVE'], 'fatal'); // COM_BINLOG_DUMP
  need('privilege: binlog position', [monitor], 'fatal'); // SHOW BINARY LOGS, SHOW MASTER STATUS
  const backup = flavour === 'mariadb' ? ['RELOAD', 'PROCESS', 'LOCK TABLES', monitor, 'SELECT'] : ['RELOAD', 'PROCESS', 'LOCK TABLES', 'BACKUP_ADMIN', monitor, 'SELECT'];
  need('privileges: base backups', backup, 'warn'); // mariabackup/xtrabackup, logical dumps
  // Fencing puts the server read-only and ends every other client session (which needs to see
  // them, PROCESS, and to kill them, CONNECTION ADMIN). MariaDB 10.5 split READ_ONLY ADMIN and
  // CONNECTION ADMIN from SUPER (which implied them until 10.11); before 10.5 only SUPER exists.
  const fencing =
    flavour === 'mysql' ? ['SYSTEM_VARIABLES_ADMIN', 'CONNECTION_ADMIN', 'PROCESS'] : atLeast(version, 10, 5) ? ['READ_ONLY ADMIN', 'CONNECTION ADMIN', 'PROCESS'] : ['SUPER', 'PROCESS'];
  if (flavour === 'mariadb' && !atLeast(version, 10, 11) && privileges.has('SUPER')) privileges = new Set([...privileges, 'READ_ONLY ADMIN', 'CONNECTION ADMIN']);
  need('privilege: fencing', fencing, 'warn'); // SET GLOBAL read_only and KILL CONNECTION when another primary takes over
  return checks;
}

export const hasFatal = (checks: readonly Check[]): boolean => checks.some((c) => c.verdict === 'fatal');

/** Renders the checks as a table, then every fix grouped by where it goes. */
export function formatReport(checks: readonly Check[], flavour: Flavour): string {
  const clip = (s: string): string => (s.length > 60 ? `${s.slice(0, 57)}...` : s);
  const rows = [['check', 'found', 'required', 'verdict'], ...checks.map((c) => [c.name, clip(c.found), clip(c.required), c.verdict.toUpperCase()])];
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const lines = rows.map((r) => r.map((cell, i) => (i < 3 ? cell.padEnd(widths[i] ?? 0) : cell)).join('  '));
  const config = checks.filter((c) => c.fix && c.fixKind === 'my.cnf');
  const sql = checks.filter((c) => c.fix && c.fixKind === 'sql');
  const now = checks.filter((c) => c.applyNow).map((c) => c.applyNow as string);
  if (config.length > 0) {
    lines.push('', `add to the server's option file (my.cnf), then restart it:`, `  ${optionSection(flavour)}`, ...config.map((c) => `  ${c.fix}`));
    if (now.length > 0) lines.push('', 'the dynamic ones also apply at once, as an administrator:', ...now.map((s) => `  ${s}`));
  }
  if (sql.length > 0) lines.push('', 'run as an administrator:', ...mergeGrants(sql.flatMap((c) => (c.fix ?? '').split('\n'))).map((s) => `  ${s}`));
  const fatal = checks.filter((c) => c.verdict === 'fatal').length;
  const warn = checks.filter((c) => c.verdict === 'warn').length;
  lines.push('', fatal > 0 ? `${fatal} fatal, ${warn} warning(s): squirrel cannot protect this server yet` : `ready: ${warn} warning(s)`);
  return lines.join('\n');
}

/** Folds the global GRANTs to one account into one statement (several checks may need the same privilege). */
function mergeGrants(statements: string[]): string[] {
  const out: string[] = [];
  const byAccount = new Map<string, Set<string>>();
  for (const sql of statements) {
    const m = /^GRANT (.+) ON \*\.\* TO (.+);$/.exec(sql);
    if (!m || !m[1] || !m[2]) {
      out.push(sql);
      continue;
    }
    let privileges = byAccount.get(m[2]);
    if (!privileges) {
      privileges = new Set();
      byAccount.set(m[2], privileges);
      out.push(m[2]); // the account's slot: its combined GRANT is filled in below
    }
    for (const p of m[1].split(', ')) privileges.add(p);
  }
  return out.map((line) => {
    const privileges = byAccount.get(line);
    return privileges ? `GRANT ${[...privileges].join(', ')} ON *.* TO ${line};` : line;
  });
}

const VARIABLES = [
  'log_bin',
  'binlog_format',
  'binlog_row_image',
  'server_id',
  'gtid_strict_mode',
  'gtid_mode',
  'enforce_gtid_consistency',
  'binlog_checksum',
  'sync_binlog',
  'innodb_flush_log_at_trx_commit',
  ...['enabled', 'wait_point', 'wait_no_slave', 'timeout'].flatMap((v) => [`rpl_semi_sync_master_${v}`, `rpl_semi_sync_source_${v}`]),
];

const CONNECTION_CODES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ETIMEDOUT: 'timed out',
  ENOTFOUND: 'unknown host',
  EAI_AGAIN: 'host name lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ECONNRESET: 'connection reset',
  PROTOCOL_CONNECTION_LOST: 'connection closed by the server',
};

/**
 * Turns a mysql2 connection failure into AuthenticationError or ConnectionError naming the
 * account and server; returns the error unchanged when it is neither.
 */
export function connectionFailure(err: unknown, target: { user: string; host: string; port: number }): unknown {
  const e = err as { code?: string; errno?: number; message?: string };
  const where = `${target.host}:${target.port}`;
  if (e.code === 'ER_ACCESS_DENIED_ERROR' || e.errno === 1045) {
    return new AuthenticationError(`${target.user}@${where}`, e.message ?? 'access denied', {
      cause: err,
      hint: `Check the user and password in SQUIRREL_MYSQL_URL (mysql://user:password@${where}; percent-encode special characters). The server matches accounts as 'user'@'client host': SELECT user, host FROM mysql.user lists them.`,
    });
  }
  if (e.code === 'ER_HOST_NOT_PRIVILEGED' || e.errno === 1130) {
    return new AuthenticationError(`${target.user}@${where}`, e.message ?? 'host not allowed', {
      cause: err,
      hint: `The server has no account ${target.user} for the host squirrel connects from. Create one, e.g. CREATE USER '${target.user}'@'%' IDENTIFIED BY '...', and grant it the privileges preflight lists.`,
    });
  }
  const what = e.code === undefined ? undefined : CONNECTION_CODES[e.code];
  if (what !== undefined) {
    return new ConnectionError(where, `${what} (${e.code})`, {
      cause: err,
      hint: `Check that the server runs and listens on ${where} (its port and bind_address settings, any firewall), and that SQUIRREL_MYSQL_URL names it.`,
    });
  }
  return err;
}

/** Connects with the URL's account and reads everything `evaluate` needs. */
export async function gatherFacts(url: string, agentServerId: number, opts: { connectTimeoutMs?: number } = {}): Promise<ServerFacts> {
  const target = parseMysqlUrl(url);
  let conn: mysql.Connection;
  try {
    conn = await mysql.createConnection({ ...target, connectTimeout: opts.connectTimeoutMs ?? 10_000 });
  } catch (err) {
    throw connectionFailure(err, target);
  }
  try {
    const [[who]] = await conn.query<mysql.RowDataPacket[]>('SELECT VERSION() AS version, CURRENT_USER() AS account');
    const [vars] = await conn.query<mysql.RowDataPacket[]>(`SHOW GLOBAL VARIABLES WHERE Variable_name IN (${VARIABLES.map(() => '?').join(', ')})`, VARIABLES);
    const [grantRows] = await conn.query<mysql.RowDataPacket[]>('SHOW GRANTS');
    const [tables] = await conn.query<mysql.RowDataPacket[]>(
      `SELECT t.TABLE_SCHEMA AS s, t.TABLE_NAME AS t, t.ENGINE AS e
         FROM information_schema.TABLES t JOIN information_schema.ENGINES g ON g.ENGINE = t.ENGINE
        WHERE g.TRANSACTIONS = 'NO' AND t.TABLE_TYPE = 'BASE TABLE'
          AND t.TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')
        ORDER BY t.TABLE_SCHEMA, t.TABLE_NAME`,
    );
    const account = String(who?.account ?? `${target.user}@%`);
    const at = account.lastIndexOf('@');
    return {
      version: String(who?.version ?? ''),
      variables: Object.fromEntries(vars.map((r) => [String(r.Variable_name).toLowerCase(), String(r.Value)])),
      grants: grantRows.map((r) => String(Object.values(r)[0])),
      account: { user: account.slice(0, at), host: account.slice(at + 1) },
      nonTransactionalTables: tables.map((r) => ({ schema: String(r.s), table: String(r.t), engine: String(r.e) })),
      agentServerId,
    };
  } finally {
    await conn.end().catch(() => undefined);
  }
}
