import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AuthenticationError, ConnectionError } from '../../agent/errors.js';
import { freePort } from '../../agent/server/free-port.js';
import { MariaDbServer } from '../../agent/server/mariadb.js';
import { evaluate, formatReport, gatherFacts, globalPrivileges, hasFatal, STRICT_MIN_TIMEOUT_MS, type Check, type ServerFacts } from '../../agent/preflight.js';
import { runCli } from '../harness/cli.js';

const AGENT_ID = 4_000_000_001;

/** A MariaDB 10.11 that squirrel can protect, seen by an account with exactly what it needs. */
const good: ServerFacts = {
  version: '10.11.19-MariaDB-0+deb12u1-log',
  variables: {
    log_bin: 'ON',
    binlog_format: 'ROW',
    binlog_row_image: 'FULL',
    server_id: '1',
    gtid_strict_mode: 'ON',
    binlog_checksum: 'CRC32',
    sync_binlog: '1',
    innodb_flush_log_at_trx_commit: '1',
  },
  grants: [
    "GRANT SELECT, RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR, REPLICATION SLAVE, READ_ONLY ADMIN, CONNECTION ADMIN ON *.* TO `squirrel`@`%` IDENTIFIED BY PASSWORD '*AB'",
  ],
  account: { user: 'squirrel', host: '%' },
  nonTransactionalTables: [],
  agentServerId: AGENT_ID,
};

const byName = (checks: Check[], name: string): Check => {
  const c = checks.find((x) => x.name === name);
  assert.ok(c, `no check named ${name}`);
  return c;
};
const notOk = (checks: Check[]): Pick<Check, 'name' | 'verdict'>[] => checks.filter((c) => c.verdict !== 'ok').map(({ name, verdict }) => ({ name, verdict }));
const withVars = (vars: Record<string, string>): ServerFacts => ({ ...good, variables: { ...good.variables, ...vars } });

describe('preflight: evaluate', () => {
  it('passes a well-configured MariaDB with every check ok', () => {
    const checks = evaluate(good);
    assert.deepEqual(notOk(checks), []);
    assert.equal(hasFatal(checks), false);
  });

  /** `also`: the other checks the same fact rightly trips. */
  const cases: { when: string; facts: ServerFacts; name: string; verdict: Check['verdict']; fix?: string; applyNow?: string; also?: Pick<Check, 'name' | 'verdict'>[] }[] = [
    { when: 'the binlog is off', facts: withVars({ log_bin: 'OFF' }), name: 'log_bin', verdict: 'fatal', fix: 'log_bin = mariadb-bin' },
    { when: 'binlog_format is STATEMENT', facts: withVars({ binlog_format: 'STATEMENT' }), name: 'binlog_format', verdict: 'fatal', fix: 'binlog_format = ROW', applyNow: "SET GLOBAL binlog_format = 'ROW';" },
    { when: 'binlog_format is MIXED', facts: withVars({ binlog_format: 'MIXED' }), name: 'binlog_format', verdict: 'fatal', fix: 'binlog_format = ROW' },
    { when: 'binlog_row_image is MINIMAL', facts: withVars({ binlog_row_image: 'MINIMAL' }), name: 'binlog_row_image', verdict: 'fatal', fix: 'binlog_row_image = FULL' },
    { when: 'server_id is 0', facts: withVars({ server_id: '0' }), name: 'server_id', verdict: 'fatal', fix: 'server_id = 1' },
    { when: "server_id is the agent's own", facts: withVars({ server_id: String(AGENT_ID) }), name: 'server_id', verdict: 'fatal', fix: 'server_id = 1' },
    { when: 'gtid_strict_mode is OFF', facts: withVars({ gtid_strict_mode: 'OFF' }), name: 'gtid_strict_mode', verdict: 'fatal', fix: 'gtid_strict_mode = ON' },
    { when: 'events carry no checksum', facts: withVars({ binlog_checksum: 'NONE' }), name: 'binlog_checksum', verdict: 'fatal', fix: 'binlog_checksum = CRC32' },
    { when: 'sync_binlog is 0', facts: withVars({ sync_binlog: '0' }), name: 'sync_binlog', verdict: 'warn', fix: 'sync_binlog = 1', applyNow: 'SET GLOBAL sync_binlog = 1;' },
    { when: 'InnoDB flushes once a second', facts: withVars({ innodb_flush_log_at_trx_commit: '2' }), name: 'innodb_flush_log_at_trx_commit', verdict: 'warn', fix: 'innodb_flush_log_at_trx_commit = 1' },
    { when: 'MariaDB is older than 10.6', facts: { ...good, version: '10.5.27-MariaDB' }, name: 'version', verdict: 'warn' },
    {
      when: 'the account lacks REPLICATION SLAVE',
      facts: { ...good, grants: ['GRANT SELECT, RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR, READ_ONLY ADMIN, CONNECTION ADMIN ON *.* TO `squirrel`@`%`'] },
      name: 'privilege: binlog stream',
      verdict: 'fatal',
      fix: "GRANT REPLICATION SLAVE ON *.* TO 'squirrel'@'%';",
    },
    {
      when: 'the account lacks BINLOG MONITOR',
      facts: { ...good, grants: ['GRANT SELECT, RELOAD, PROCESS, LOCK TABLES, REPLICATION SLAVE, READ_ONLY ADMIN, CONNECTION ADMIN ON *.* TO `squirrel`@`%`'] },
      name: 'privilege: binlog position',
      verdict: 'fatal',
      fix: "GRANT BINLOG MONITOR ON *.* TO 'squirrel'@'%';",
      also: [{ name: 'privileges: base backups', verdict: 'warn' }],
    },
    {
      when: 'the account can stream but not back up',
      facts: { ...good, grants: ['GRANT BINLOG MONITOR, REPLICATION SLAVE, READ_ONLY ADMIN, CONNECTION ADMIN ON *.* TO `squirrel`@`%`'] },
      name: 'privileges: base backups',
      verdict: 'warn',
      fix: "GRANT RELOAD, PROCESS, LOCK TABLES, SELECT ON *.* TO 'squirrel'@'%';",
      // without PROCESS it cannot see the sessions a fence ends either
      also: [
        { name: 'privilege: fencing', verdict: 'warn' },
        { name: 'non-transactional tables', verdict: 'warn' },
      ],
    },
    {
      when: 'MyISAM and Aria tables exist',
      facts: { ...good, nonTransactionalTables: [{ schema: 'shop', table: 'sessions', engine: 'MyISAM' }, { schema: 'shop', table: 'log', engine: 'Aria' }] },
      name: 'non-transactional tables',
      verdict: 'warn',
      fix: 'ALTER TABLE `shop`.`sessions` ENGINE=InnoDB;\nALTER TABLE `shop`.`log` ENGINE=InnoDB;',
    },
  ];
  for (const c of cases) {
    it(`reports ${c.name} as ${c.verdict} when ${c.when}${c.also ? '' : ', and nothing else'}`, () => {
      const checks = evaluate(c.facts);
      assert.deepEqual(notOk(checks), [{ name: c.name, verdict: c.verdict }, ...(c.also ?? [])]);
      const check = byName(checks, c.name);
      assert.equal(check.fix, c.fix);
      if (c.applyNow) assert.equal(check.applyNow, c.applyNow);
    });
  }

  it('names MyISAM tables in what it found', () => {
    const check = byName(evaluate({ ...good, nonTransactionalTables: [{ schema: 'shop', table: 'sessions', engine: 'MyISAM' }] }), 'non-transactional tables');
    assert.equal(check.found, '1: shop.sessions (MyISAM)');
  });

  it('warns that tables could not all be seen without SELECT on *.*', () => {
    const facts = { ...good, grants: ['GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR, REPLICATION SLAVE, READ_ONLY ADMIN, CONNECTION ADMIN ON *.* TO `squirrel`@`%`'] };
    assert.match(byName(evaluate(facts), 'non-transactional tables').found, /none visible/);
  });

  it('checks GTID mode, not gtid_strict_mode, on MySQL and gives [mysqld] fixes', () => {
    const facts: ServerFacts = {
      ...good,
      version: '8.0.36',
      variables: { ...good.variables, gtid_strict_mode: 'OFF', gtid_mode: 'OFF', enforce_gtid_consistency: 'OFF' },
      grants: ['GRANT SELECT, RELOAD, PROCESS, LOCK TABLES, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO `squirrel`@`%`', 'GRANT BACKUP_ADMIN,SYSTEM_VARIABLES_ADMIN,CONNECTION_ADMIN ON *.* TO `squirrel`@`%`'],
    };
    const checks = evaluate(facts);
    assert.deepEqual(notOk(checks), [
      { name: 'gtid_mode', verdict: 'fatal' },
      { name: 'enforce_gtid_consistency', verdict: 'fatal' },
    ]);
    assert.match(formatReport(checks, 'mysql'), /\[mysqld\]\n {2}gtid_mode = ON\n {2}enforce_gtid_consistency = ON/);
  });

  it('prints every option-file fix under one [mariadbd] section, then one GRANT per account', () => {
    const facts = { ...withVars({ binlog_format: 'MIXED', log_bin: 'OFF' }), grants: ['GRANT USAGE ON *.* TO `u`@`h`'], account: { user: 'u', host: 'h' } };
    const report = formatReport(evaluate(facts), 'mariadb');
    assert.match(report, /\[mariadbd\]\n {2}log_bin = mariadb-bin\n {2}binlog_format = ROW\n/);
    assert.match(report, /SET GLOBAL binlog_format = 'ROW';/);
    assert.ok(report.includes("\n  GRANT REPLICATION SLAVE, BINLOG MONITOR, RELOAD, PROCESS, LOCK TABLES, SELECT, READ_ONLY ADMIN, CONNECTION ADMIN ON *.* TO 'u'@'h';\n"), 'one GRANT per account');
    assert.match(report, /fatal, .* warning\(s\): squirrel cannot protect this server yet$/);
  });
});


describe('preflight: lossless mode (semi-sync)', () => {
  /** MariaDB's semi-sync defaults: off, AFTER_COMMIT, waits with no replica, 10 s. */
  const defaults = { rpl_semi_sync_master_enabled: 'OFF', rpl_semi_sync_master_wait_point: 'AFTER_COMMIT', rpl_semi_sync_master_wait_no_slave: 'ON', rpl_semi_sync_master_timeout: '10000' };
  const ready = { ...defaults, rpl_semi_sync_master_enabled: 'ON', rpl_semi_sync_master_wait_point: 'AFTER_SYNC' };

  it('asks nothing of semi-sync with lossless off', () => {
    assert.deepEqual(notOk(evaluate(withVars(defaults))), []);
    assert.ok(!evaluate(withVars(defaults)).some((c) => c.name.startsWith('rpl_semi_sync')));
  });

  it('strict: MariaDB defaults are fatal, each with the line to set and the statement that applies it now', () => {
    const checks = evaluate(withVars(defaults), { lossless: 'strict' });
    assert.deepEqual(notOk(checks), [
      { name: 'rpl_semi_sync_master_enabled', verdict: 'fatal' },
      { name: 'rpl_semi_sync_master_wait_point', verdict: 'fatal' },
      { name: 'rpl_semi_sync_master_timeout', verdict: 'fatal' },
    ]);
    assert.match(byName(checks, 'rpl_semi_sync_master_wait_point').required, /AFTER_COMMIT other sessions read a commit before squirrel has it/);
    const report = formatReport(checks, 'mariadb');
    assert.match(report, /\[mariadbd\]\n {2}rpl_semi_sync_master_enabled = ON\n {2}rpl_semi_sync_master_wait_point = AFTER_SYNC\n {2}rpl_semi_sync_master_timeout = 4294967295\n/);
    assert.match(report, /SET GLOBAL rpl_semi_sync_master_wait_point = 'AFTER_SYNC';/);
    assert.match(report, /SET GLOBAL rpl_semi_sync_master_timeout = 4294967295;/);
  });

  it('strict: a timeout of an hour or more, waiting with no replica, AFTER_SYNC pass', () => {
    assert.deepEqual(notOk(evaluate(withVars({ ...ready, rpl_semi_sync_master_timeout: String(STRICT_MIN_TIMEOUT_MS) }), { lossless: 'strict' })), []);
    assert.deepEqual(notOk(evaluate(withVars({ ...ready, rpl_semi_sync_master_timeout: String(STRICT_MIN_TIMEOUT_MS - 1) }), { lossless: 'strict' })), [{ name: 'rpl_semi_sync_master_timeout', verdict: 'fatal' }]);
    assert.deepEqual(notOk(evaluate(withVars({ ...ready, rpl_semi_sync_master_timeout: '4294967295', rpl_semi_sync_master_wait_no_slave: 'OFF' }), { lossless: 'strict' })), [
      { name: 'rpl_semi_sync_master_wait_no_slave', verdict: 'fatal' },
    ]);
  });

  it('best-effort: AFTER_COMMIT is still refused; semi-sync off and not waiting with no replica are warnings; any timeout', () => {
    assert.deepEqual(notOk(evaluate(withVars(defaults), { lossless: 'best-effort' })), [
      { name: 'rpl_semi_sync_master_enabled', verdict: 'warn' },
      { name: 'rpl_semi_sync_master_wait_point', verdict: 'fatal' },
    ]);
    assert.deepEqual(notOk(evaluate(withVars({ ...ready, rpl_semi_sync_master_wait_no_slave: 'OFF' }), { lossless: 'best-effort' })), [{ name: 'rpl_semi_sync_master_wait_no_slave', verdict: 'warn' }]);
  });

  it("MySQL 8.0.26+: checks the plugin's rpl_semi_sync_source_* names, and asks for the plugin when it is not loaded", () => {
    const mysql: ServerFacts = { ...good, version: '8.0.36', variables: { ...good.variables, gtid_mode: 'ON', enforce_gtid_consistency: 'ON' } };
    const source = { rpl_semi_sync_source_enabled: 'ON', rpl_semi_sync_source_wait_point: 'AFTER_SYNC', rpl_semi_sync_source_wait_no_slave: 'ON', rpl_semi_sync_source_timeout: '10000' };
    const lossless = (vars: Record<string, string>) => evaluate({ ...mysql, variables: { ...mysql.variables, ...vars } }, { lossless: 'strict' }).filter((c) => /semi/.test(c.name));
    assert.deepEqual(notOk(lossless(source)), [{ name: 'rpl_semi_sync_source_timeout', verdict: 'fatal' }]);
    const missing = lossless({});
    assert.equal(byName(missing, 'semi-sync plugin').fix, 'plugin_load_add = semisync_source.so');
    assert.equal(byName(missing, 'rpl_semi_sync_source_enabled').verdict, 'fatal');
  });
});

describe('preflight: globalPrivileges', () => {
  const table: { grants: string[]; has: string[]; lacks?: string[] }[] = [
    { grants: ['GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION'], has: ['ALL'] },
    { grants: ['GRANT REPLICATION CLIENT, REPLICATION SLAVE ON *.* TO `r`@`%`'], has: ['REPLICATION CLIENT', 'REPLICATION SLAVE'] },
    { grants: ['GRANT SELECT ON `shop`.* TO `r`@`%`', 'GRANT USAGE ON *.* TO `r`@`%`'], has: ['USAGE'], lacks: ['SELECT'] },
    { grants: ['GRANT BACKUP_ADMIN,REPLICATION_SLAVE_ADMIN ON *.* TO `m`@`%`'], has: ['BACKUP_ADMIN', 'REPLICATION_SLAVE_ADMIN'] },
    { grants: ['GRANT `app_role` TO `u`@`%`'], has: [], lacks: ['APP_ROLE'] },
  ];
  for (const row of table) {
    it(`reads ${row.grants.join(' + ')}`, () => {
      const p = globalPrivileges(row.grants);
      for (const h of row.has) assert.ok(p.has(h), `has ${h}`);
      for (const l of row.lacks ?? []) assert.ok(!p.has(l), `lacks ${l}`);
    });
  }

  it('accepts SUPER for READ_ONLY ADMIN before MariaDB 10.11 only', () => {
    const grants = ['GRANT SELECT, RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR, REPLICATION SLAVE, SUPER ON *.* TO `squirrel`@`%`'];
    assert.deepEqual(notOk(evaluate({ ...good, version: '10.6.20-MariaDB', grants })), []);
    assert.deepEqual(notOk(evaluate({ ...good, grants })), [{ name: 'privilege: fencing', verdict: 'warn' }]);
  });

  it('warns when the account cannot end the sessions of a fenced server (CONNECTION ADMIN on MariaDB 10.11)', () => {
    const grants = ['GRANT SELECT, RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR, REPLICATION SLAVE, READ_ONLY ADMIN ON *.* TO `squirrel`@`%`'];
    assert.deepEqual(notOk(evaluate({ ...good, grants })), [{ name: 'privilege: fencing', verdict: 'warn' }]);
  });

  it('accepts REPLICATION CLIENT for BINLOG MONITOR (MariaDB 10.5 alias)', () => {
    const grants = ['GRANT SELECT, RELOAD, PROCESS, LOCK TABLES, REPLICATION CLIENT, REPLICATION SLAVE, READ_ONLY ADMIN, CONNECTION ADMIN ON *.* TO `squirrel`@`%`'];
    assert.deepEqual(notOk(evaluate({ ...good, grants })), []);
  });
});

describe('preflight against real servers', () => {
  let server: MariaDbServer;
  let noBinlog: MariaDbServer;
  before(async () => {
    [server, noBinlog] = await Promise.all([MariaDbServer.start(), MariaDbServer.start({ binlog: false })]);
    await server.query(
      "CREATE USER 'streamonly'@'127.0.0.1' IDENTIFIED BY 'pw'; GRANT BINLOG MONITOR, SELECT, RELOAD, PROCESS, LOCK TABLES, READ_ONLY ADMIN, CONNECTION ADMIN ON *.* TO 'streamonly'@'127.0.0.1'",
    );
  });
  after(async () => {
    await Promise.all([server?.stop(), noBinlog?.stop()]);
  });
  const preflight = (url: string, ...args: string[]) => runCli(['preflight', ...args], { env: { SQUIRREL_MYSQL_URL: url } });
  const verdicts = (stdout: string): Record<string, string> =>
    Object.fromEntries((JSON.parse(stdout) as { checks: Check[] }).checks.map((c) => [c.name, c.verdict]));

  it('exits 0 for a well-configured server and prints the table', async () => {
    const r = await preflight(server.url);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /check\s+found\s+required\s+verdict/);
    assert.match(r.stdout, /binlog_format\s+ROW\s+ROW\s+OK/);
    assert.match(r.stdout, /ready: 0 warning\(s\)/);
  });

  it('exits 0 but lists a MyISAM table by name as a warning', async () => {
    await server.query('CREATE DATABASE shop; CREATE TABLE shop.sessions (id INT) ENGINE=MyISAM');
    try {
      const r = await preflight(server.url, '--json');
      assert.equal(r.code, 0, r.stderr);
      const check = (JSON.parse(r.stdout) as { checks: Check[] }).checks.find((c) => c.name === 'non-transactional tables');
      assert.equal(check?.verdict, 'warn');
      assert.equal(check?.found, '1: shop.sessions (MyISAM)');
    } finally {
      await server.query('DROP DATABASE shop');
    }
  });

  it('exits 1 when binlog_format is STATEMENT, then 0 once it is set back', async () => {
    await server.query("SET GLOBAL binlog_format = 'STATEMENT'");
    try {
      const r = await preflight(server.url, '--json');
      assert.equal(r.code, 1, r.stderr);
      assert.equal(verdicts(r.stdout).binlog_format, 'fatal');
      assert.equal((JSON.parse(r.stdout) as { ok: boolean }).ok, false);
    } finally {
      await server.query("SET GLOBAL binlog_format = 'ROW'");
    }
    assert.equal((await preflight(server.url)).code, 0);
  });

  it('--lossless strict checks the semi-sync settings: exits 1 on MariaDB\'s defaults, 0 once they are set', async () => {
    const r = await preflight(server.url, '--lossless', 'strict');
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /rpl_semi_sync_master_wait_point\s+AFTER_COMMIT\s+AFTER_SYNC: with AFTER_COMMIT other.*FATAL/);
    assert.match(r.stdout, /SET GLOBAL rpl_semi_sync_master_enabled = 'ON';/);
    const set = ["rpl_semi_sync_master_enabled = ON", "rpl_semi_sync_master_wait_point = 'AFTER_SYNC'", 'rpl_semi_sync_master_timeout = 4294967295'];
    try {
      for (const v of set) await server.query(`SET GLOBAL ${v}`);
      const ok = await preflight(server.url, '--lossless', 'strict', '--json');
      assert.equal(ok.code, 0, ok.stdout);
      assert.equal(verdicts(ok.stdout).rpl_semi_sync_master_timeout, 'ok');
    } finally {
      await server.query("SET GLOBAL rpl_semi_sync_master_enabled = OFF, rpl_semi_sync_master_wait_point = 'AFTER_COMMIT', rpl_semi_sync_master_timeout = 10000");
    }
    const bogus = await preflight(server.url, '--lossless', 'bogus');
    assert.equal(bogus.code, 2);
    assert.match(bogus.stderr, /Allowed choices are strict, best-effort, off/);
  });

  it('finds binlog_row_image=MINIMAL fatal', async () => {
    await server.query("SET GLOBAL binlog_row_image = 'MINIMAL'");
    try {
      const checks = evaluate(await gatherFacts(server.url, AGENT_ID));
      assert.deepEqual(notOk(checks), [{ name: 'binlog_row_image', verdict: 'fatal' }]);
    } finally {
      await server.query("SET GLOBAL binlog_row_image = 'FULL'");
    }
  });

  // These read the servers without changing them, so they run side by side.
  describe('without changing the servers', { concurrency: true }, () => {
    it('exits 1 when the binlog is off, and says what to add to my.cnf', async () => {
      const r = await preflight(noBinlog.url);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stdout, /log_bin\s+OFF\s+ON\s+FATAL/);
      assert.match(r.stdout, /\[mariadbd\]\n {2}log_bin = mariadb-bin/);
    });

    it('exits 1 for an account without REPLICATION SLAVE and prints the GRANT for that account', async () => {
      const r = await preflight(server.urlFor('streamonly', 'pw'));
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stdout, /privilege: binlog stream\s+missing REPLICATION SLAVE/);
      assert.match(r.stdout, /GRANT REPLICATION SLAVE ON \*\.\* TO 'streamonly'@'127\.0\.0\.1';/);
    });

    it('reports a wrong password as an authentication failure naming user@host:port', async () => {
      await assert.rejects(gatherFacts(server.urlFor('root', 'wrong'), AGENT_ID), AuthenticationError);
      const r = await preflight(server.urlFor('root', 'wrong'));
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`authentication failed for root@127\\.0\\.0\\.1:${server.port}: Access denied`));
      assert.match(r.stderr, /hint: Check the user and password in SQUIRREL_MYSQL_URL/);
    });

    it('reports an unreachable port as a connection failure with a hint', async () => {
      const port = await freePort();
      const url = `mysql://root:x@127.0.0.1:${port}`;
      await assert.rejects(gatherFacts(url, AGENT_ID), ConnectionError);
      const r = await preflight(url);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`cannot connect to 127\\.0\\.0\\.1:${port}: connection refused \\(ECONNREFUSED\\)`));
      assert.match(r.stderr, /hint: Check that the server runs and listens on/);
    });

    it('exits 2 without SQUIRREL_MYSQL_URL', async () => {
      const r = await runCli(['preflight']);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /SQUIRREL_MYSQL_URL/);
    });
  });
});
