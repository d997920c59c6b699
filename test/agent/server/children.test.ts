import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { pidAlive } from '../../../agent/server/process-util.js';

const dist = (path: string): string => new URL(`../../../agent/${path}`, import.meta.url).href;

/**
 * An owner process that starts a private MariaDB and the S3 stand-in, reports their pids and
 * directories, then ends the way `mode` says without stopping anything itself.
 */
const owner = (mode: 'crash' | 'wait'): string => `
  import { MariaDbServer } from ${JSON.stringify(dist('server/mariadb.js'))};
  import { startS3Server } from ${JSON.stringify(dist('local/s3.js'))};
  const [db, s3] = await Promise.all([MariaDbServer.start(), startS3Server()]);
  console.log(JSON.stringify({ pids: [db.pid, s3.pid], dirs: [db.dir, s3.dir] }));
  ${mode === 'crash' ? "setTimeout(() => { throw new Error('owner crashed'); }, 10);" : 'setInterval(() => {}, 1000);'}
`;

async function runOwner(mode: 'crash' | 'wait', kill?: NodeJS.Signals) {
  const child = spawn(process.execPath, ['--input-type=module', '-e', owner(mode)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const lines = createInterface({ input: child.stdout });
  const first = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', () => reject(new Error('owner exited before reporting')));
  });
  const started = JSON.parse(first) as { pids: number[]; dirs: string[] };
  if (kill) child.kill(kill);
  return { started, exit: await exited };
}

async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 100 && pidAlive(pid); i++) await sleep(50);
  return !pidAlive(pid);
}

describe('children registry', () => {
  it('kills the servers and removes their directories when the owner dies of an uncaught exception or SIGTERM', async () => {
    const [crashed, terminated] = await Promise.all([runOwner('crash'), runOwner('wait', 'SIGTERM')]);
    assert.equal(crashed.exit.code, 1, 'the uncaught exception still ends the owner with status 1');
    assert.equal(terminated.exit.signal, 'SIGTERM', 'the signal is re-raised after cleanup');
    for (const { started } of [crashed, terminated]) {
      for (const pid of started.pids) assert.ok(await gone(pid), `pid ${pid} left running`);
      for (const dir of started.dirs) assert.equal(existsSync(dir), false, `${dir} left behind`);
    }
  });
});
