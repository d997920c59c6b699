import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import mysql from 'mysql2/promise';
import { ProcessError } from '../errors.js';
import { registerChild } from './children.js';
import { freePort } from './free-port.js';
import { isRunning, poll, tailFile, terminate } from './process-util.js';

/**
 * A private MariaDB server for tests, the demo and benchmarks: its own directory, datadir,
 * TCP port on 127.0.0.1 and Unix socket, so any number can run side by side. Every option that
 * preflight checks is settable, so a test can start a server misconfigured in exactly one way.
 *
 * The server process is registered with children.ts: it is killed, and a temporary directory
 * removed, even when the owning process ends without calling stop().
 */
export interface MariaDbOptions {
  /**
   * Directory for the server's files: `data/` (the datadir), `error.log`, `mariadbd.pid`.
   * A given directory is never removed; if its `data/` is not empty it is used as is (no
   * install), e.g. a datadir prepared by mariabackup.
   * @default a new directory under os.tmpdir(), removed by stop() unless `keep`
   */
  dir?: string;
  /** Keep the temporary directory after stop(). @default false */
  keep?: boolean;
  /** Write a binlog (`--log-bin=mariadb-bin` inside the datadir). @default true */
  binlog?: boolean;
  /** @default 'ROW' */
  binlogFormat?: 'ROW' | 'STATEMENT' | 'MIXED';
  /** @default 'FULL' */
  binlogRowImage?: 'FULL' | 'MINIMAL' | 'NOBLOB';
  /** @default 1 */
  serverId?: number;
  /** @default true */
  gtidStrictMode?: boolean;
  /** @default 'CRC32' */
  binlogChecksum?: 'CRC32' | 'NONE';
  /** @default 1 */
  syncBinlog?: number;
  /** @default 1 */
  innodbFlushLogAtTrxCommit?: 0 | 1 | 2;
  /**
   * InnoDB buffer pool and redo log sizes. The default is the test sizing (16 MiB / 8 MiB: a
   * fresh datadir of ~26 MB that starts in well under a second); a server that restores or
   * serves users passes its own (agent/restore/replay-server.ts).
   * @default { bufferPoolBytes: 16 MiB, logFileBytes: 8 MiB }
   */
  innodbSizes?: { bufferPoolBytes: number; logFileBytes: number };
  /** More `mariadbd` options, appended last so they win (e.g. `--rpl-semi-sync-master-enabled=ON`). */
  extraArgs?: string[];
  /** Set for every root account after the first start (TCP and socket). @default 'squirrel-root' */
  rootPassword?: string;
  /** TCP port. @default a free port (a new one is picked if another process takes it first) */
  port?: number;
  /** @default 30000 */
  startTimeoutMs?: number;
  /** Time allowed for a graceful shutdown before SIGKILL. @default 20000 */
  stopTimeoutMs?: number;
}

/** Basename of the binlog files inside the datadir (`mariadb-bin.000001`, `mariadb-bin.index`). */
export const BINLOG_BASENAME = 'mariadb-bin';

const MAX_SOCKET_PATH = 100; // sun_path is 108 bytes on Linux; stay clear of it
const PORT_ATTEMPTS = 3;

export class MariaDbServer {
  readonly host = '127.0.0.1';
  readonly datadir: string;
  readonly socket: string;
  readonly rootPassword: string;
  private readonly errorLogPath: string;
  private readonly ownsDir: boolean;
  private child: ChildProcess | undefined;
  private unregisterChild: (() => void) | undefined;
  private unregisterDir: (() => void) | undefined;
  private pool: mysql.Pool | undefined;
  /** The password root has right now: empty on a fresh datadir until start() sets it. */
  private password: string;
  private stopped = false;

  private constructor(
    readonly dir: string,
    public port: number,
    private readonly opts: MariaDbOptions,
    fresh: boolean,
  ) {
    this.datadir = join(dir, 'data');
    this.errorLogPath = join(dir, 'error.log');
    const inDir = join(dir, 'mysqld.sock');
    this.socket = inDir.length < MAX_SOCKET_PATH ? inDir : join(tmpdir(), `sq-${randomBytes(6).toString('hex')}.sock`);
    this.rootPassword = opts.rootPassword ?? 'squirrel-root';
    this.password = fresh ? '' : this.rootPassword;
    this.ownsDir = opts.dir === undefined;
    const removeDir = this.ownsDir && !opts.keep;
    const socketOutside = this.socket !== inDir;
    this.unregisterDir = registerChild(undefined, () => {
      if (removeDir) rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
      if (socketOutside) rmSync(this.socket, { force: true });
    });
  }

  /** Creates (or reuses, see `dir`) a datadir, starts mariadbd and waits until it takes connections. */
  static async start(opts: MariaDbOptions = {}): Promise<MariaDbServer> {
    const dir = opts.dir ? resolve(opts.dir) : mkdtempSync(join(tmpdir(), 'sq-mdb-'));
    mkdirSync(dir, { recursive: true });
    const datadir = join(dir, 'data');
    const fresh = !existsSync(datadir) || readdirSync(datadir).length === 0;
    const server = new MariaDbServer(dir, opts.port ?? 0, opts, fresh);
    try {
      if (fresh) await server.install();
      await server.launch(opts.port === undefined);
      if (fresh) await server.setRootPassword();
      return server;
    } catch (err) {
      await server.stop();
      throw err;
    }
  }

  /** `mysql://root:PASSWORD@127.0.0.1:PORT` */
  get url(): string {
    return this.urlFor('root', this.rootPassword);
  }

  /** A mysql:// URL for another account on this server. */
  urlFor(user: string, password: string): string {
    return `mysql://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${this.host}:${this.port}`;
  }

  /** Full path of the binlog files without the numeric suffix. */
  get binlogBasename(): string {
    return join(this.datadir, BINLOG_BASENAME);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && isRunning(this.child);
  }

  /** The binlog files the server lists in its index, oldest first, as full paths. */
  async binlogFiles(): Promise<string[]> {
    let index: string;
    try {
      index = await readFile(`${this.binlogBasename}.index`, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    return index
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line.length > 0)
      .map((line) => (isAbsolute(line) ? line : resolve(this.datadir, line)));
  }

  /** The bytes of one binlog file as the server wrote them (`mariadb-bin.000001` or a full path). */
  readBinlogFile(file: string): Promise<Buffer> {
    return readFile(isAbsolute(file) ? file : join(this.datadir, file));
  }

  /** Runs SQL as root over the socket; returns the rows (or the OK packet for writes). */
  async query<T = Record<string, unknown>[]>(sql: string, params?: unknown[]): Promise<T> {
    this.pool ??= mysql.createPool({
      socketPath: this.socket,
      user: 'root',
      password: this.password,
      multipleStatements: true,
      connectionLimit: 4,
      supportBigNumbers: true,
    });
    const [rows] = await this.pool.query(sql, params);
    return rows as T;
  }

  /** The server's error log ('' before it exists). */
  errorLog(): string {
    try {
      return readFileSync(this.errorLogPath, 'utf8');
    } catch {
      return '';
    }
  }

  /**
   * Shuts the server down (SIGTERM, i.e. a clean shutdown; SIGKILL after `stopTimeoutMs`), then
   * removes the temporary directory unless `keep`. Idempotent.
   */
  async stop(): Promise<void> {
    await this.closePool();
    if (this.child) await terminate(this.child, 'SIGTERM', this.opts.stopTimeoutMs ?? 20_000);
    this.unregisterChild?.();
    this.unregisterChild = undefined;
    if (this.stopped) return;
    this.stopped = true;
    this.unregisterDir?.();
    this.unregisterDir = undefined;
    if (this.ownsDir && !this.opts.keep) rmSync(this.dir, { recursive: true, force: true, maxRetries: 3 });
    if (!this.socket.startsWith(this.dir)) rmSync(this.socket, { force: true });
  }

  /** SIGKILL, as a crash would; the datadir stays, so restart() can recover it. */
  async kill9(): Promise<void> {
    await this.closePool();
    if (this.child) await terminate(this.child, 'SIGKILL', 10_000);
  }

  /** Starts the server again on the same datadir and port (stopping it cleanly first if it runs). */
  async restart(): Promise<void> {
    if (this.stopped) throw new ProcessError('mariadbd', 'cannot restart after stop(); start a new server on its directory instead (MariaDbServer.start({ dir }))');
    await this.closePool();
    if (this.child) await terminate(this.child, 'SIGTERM', this.opts.stopTimeoutMs ?? 20_000);
    await this.launch(false);
  }

  private async closePool(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await pool?.end().catch(() => undefined);
  }

  /** Temporary tables and files go inside the server's own directory, never in a shared /tmp. */
  private get tmpdirArg(): string {
    const dir = join(this.dir, 'tmp');
    mkdirSync(dir, { recursive: true });
    return `--tmpdir=${dir}`;
  }

  private async install(): Promise<void> {
    const args = [
      '--no-defaults',
      `--datadir=${this.datadir}`,
      '--auth-root-authentication-method=normal',
      '--user=root',
      '--skip-test-db',
      '--skip-name-resolve',
      this.tmpdirArg,
      ...sizeArgs(this.opts.innodbSizes),
    ];
    await new Promise<void>((done, fail) => {
      execFile('mariadb-install-db', args, { timeout: 60_000 }, (err, stdout, stderr) => {
        if (!err) return done();
        fail(
          new ProcessError('mariadb-install-db', `failed to create ${this.datadir}`, {
            cause: err,
            hint: `Its output ended with:\n${`${stdout}\n${stderr}`.trim().split('\n').slice(-15).join('\n')}`,
          }),
        );
      });
    });
  }

  private serverArgs(): string[] {
    const o = this.opts;
    return [
      '--no-defaults',
      '--user=root',
      `--datadir=${this.datadir}`,
      `--socket=${this.socket}`,
      `--port=${this.port}`,
      `--bind-address=${this.host}`,
      `--log-error=${this.errorLogPath}`,
      `--pid-file=${join(this.dir, 'mariadbd.pid')}`,
      '--skip-name-resolve',
      this.tmpdirArg,
      ...sizeArgs(o.innodbSizes),
      ...(o.binlog ?? true ? [`--log-bin=${BINLOG_BASENAME}`] : []),
      `--binlog-format=${o.binlogFormat ?? 'ROW'}`,
      `--binlog-row-image=${o.binlogRowImage ?? 'FULL'}`,
      `--binlog-checksum=${o.binlogChecksum ?? 'CRC32'}`,
      `--sync-binlog=${o.syncBinlog ?? 1}`,
      `--server-id=${o.serverId ?? 1}`,
      `--gtid-strict-mode=${o.gtidStrictMode ?? true ? 'ON' : 'OFF'}`,
      `--innodb-flush-log-at-trx-commit=${o.innodbFlushLogAtTrxCommit ?? 1}`,
      ...(o.extraArgs ?? []),
    ];
  }

  /** Spawns mariadbd and waits until its socket takes connections; retries a taken port. */
  private async launch(mayChangePort: boolean): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      if (this.port === 0 || (attempt > 1 && mayChangePort)) this.port = await freePort();
      const logSize = this.errorLog().length;
      const child = this.spawnServer();
      const ready = await poll(() => this.probe(), {
        timeoutMs: this.opts.startTimeoutMs ?? 30_000,
        intervalMs: 40,
        abort: () => !isRunning(child),
      });
      if (ready) return;
      const log = this.errorLog().slice(logSize);
      if (isRunning(child)) {
        await terminate(child, 'SIGKILL', 5000);
        throw this.startError(`not ready after ${this.opts.startTimeoutMs ?? 30_000} ms`, log);
      }
      const portTaken = /Address already in use|Bind on TCP\/IP port/.test(log);
      if (!(portTaken && mayChangePort && attempt < PORT_ATTEMPTS)) {
        throw this.startError(`exited with ${child.exitCode ?? child.signalCode} before it was ready`, log);
      }
    }
  }

  private spawnServer(): ChildProcess {
    this.unregisterChild?.();
    const logFd = openSync(this.errorLogPath, 'a');
    try {
      this.child = spawn('mariadbd', this.serverArgs(), { stdio: ['ignore', logFd, logFd] });
    } finally {
      closeSync(logFd);
    }
    this.child.on('error', () => undefined); // reported through the exit and the error log
    this.child.unref(); // a test that forgets stop() still ends; children.ts kills the server then
    this.unregisterChild = registerChild(this.child);
    return this.child;
  }

  /** True once the server answers on its socket (an access-denied answer counts: it is up). */
  private async probe(): Promise<true | undefined> {
    try {
      const conn = await mysql.createConnection({ socketPath: this.socket, user: 'root', password: this.password, connectTimeout: 1000 });
      await conn.end();
      return true;
    } catch (err) {
      return (err as { errno?: number }).errno === 1045 ? true : undefined;
    }
  }

  private async setRootPassword(): Promise<void> {
    // mariadb-install-db also creates root@<hostname>, which --skip-name-resolve makes
    // unusable (ALTER USER refuses it); only the loopback accounts are kept.
    const local = ['localhost', '127.0.0.1', '::1'];
    await this.query("DELETE FROM mysql.global_priv WHERE User = 'root' AND Host NOT IN (?); FLUSH PRIVILEGES", [local]);
    const roots = await this.query<{ host: string }[]>("SELECT Host AS host FROM mysql.user WHERE User = 'root'");
    for (const { host } of roots) {
      await this.query('ALTER USER ?@? IDENTIFIED BY ?', ['root', host, this.rootPassword]);
    }
    await this.closePool();
    this.password = this.rootPassword;
  }

  private startError(what: string, log: string): ProcessError {
    return new ProcessError('mariadbd', `${what} (port ${this.port}, datadir ${this.datadir})`, {
      hint: `The server's error log (${this.errorLogPath}) ends with:\n${
        log.trimEnd().split('\n').slice(-20).join('\n') || tailFile(this.errorLogPath, 20)
      }`,
    });
  }
}

/** Test sizes by default: a fresh datadir is ~26 MB and starts in well under a second. */
function sizeArgs(sizes: MariaDbOptions['innodbSizes']): string[] {
  if (!sizes) return ['--innodb-buffer-pool-size=16M', '--innodb-log-file-size=8M'];
  return [`--innodb-buffer-pool-size=${sizes.bufferPoolBytes}`, `--innodb-log-file-size=${sizes.logFileBytes}`];
}
