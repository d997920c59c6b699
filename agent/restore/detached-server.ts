import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { ProcessError } from '../errors.js';
import { freePort } from '../server/free-port.js';
import { BINLOG_BASENAME } from '../server/mariadb.js';
import { poll, tailFile } from '../server/process-util.js';

/**
 * Starts mariadbd on a restored datadir as a process of its own that outlives the CLI
 * (`squirrel restore --start`): the replay's server is a child that dies with the command. Its
 * socket, error log and pid file go to `serverDir`; settings are those the agent requires, and
 * read-only until `promote`.
 */
export async function startDetached(opts: {
  datadir: string;
  serverDir: string;
  serverId: number;
  user: string;
  password: string;
  port?: number;
  /** The restore's sizing (server-sizing.ts): the handed-over server keeps its buffer pool and redo log. @default the server's own defaults */
  innodbSizes?: { bufferPoolBytes: number; logFileBytes: number };
}): Promise<{ pid: number; port: number; socket: string }> {
  mkdirSync(join(opts.serverDir, 'tmp'), { recursive: true });
  const port = opts.port ?? (await freePort());
  const socket = join(opts.serverDir, 'mysqld.sock');
  const errorLog = join(opts.serverDir, 'error.log');
  const child = spawn(
    'mariadbd',
    [
      '--no-defaults',
      '--user=root',
      `--datadir=${opts.datadir}`,
      `--socket=${socket}`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      `--log-error=${errorLog}`,
      `--pid-file=${join(opts.serverDir, 'mariadbd.pid')}`,
      `--tmpdir=${join(opts.serverDir, 'tmp')}`,
      '--skip-name-resolve',
      `--log-bin=${BINLOG_BASENAME}`,
      '--binlog-format=ROW',
      '--binlog-row-image=FULL',
      '--binlog-checksum=CRC32',
      '--sync-binlog=1',
      `--server-id=${opts.serverId}`,
      '--gtid-strict-mode=ON',
      '--innodb-flush-log-at-trx-commit=1',
      '--innodb-doublewrite=1',
      // no writes before `promote` checks the server and opens them (replay-server.ts says why)
      '--read-only=ON',
      ...(opts.innodbSizes ? [`--innodb-buffer-pool-size=${opts.innodbSizes.bufferPoolBytes}`, `--innodb-log-file-size=${opts.innodbSizes.logFileBytes}`] : []),
    ],
    { detached: true, stdio: 'ignore' },
  );
  child.unref();
  const ready = await poll(
    async () => {
      try {
        const conn = await mysql.createConnection({ socketPath: socket, user: opts.user, password: opts.password, connectTimeout: 1000 });
        await conn.end();
        return true;
      } catch (err) {
        return (err as { errno?: number }).errno === 1045 ? true : undefined;
      }
    },
    { timeoutMs: 60_000, intervalMs: 100, abort: () => child.exitCode !== null },
  );
  if (!ready) throw new ProcessError('mariadbd', `did not start on ${opts.datadir}`, { hint: `Its error log (${errorLog}) ends with:\n${tailFile(errorLog, 20)}` });
  return { pid: child.pid!, port, socket };
}
