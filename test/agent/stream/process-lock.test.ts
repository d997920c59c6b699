import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { ProcessLock } from '../../../agent/stream/process-lock.js';

function lockDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'squirrel-lock-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'state'); // not there yet: take() creates it
}

/** The pid of a process that has exited (a child run to its end). */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(child.stdout);
}

describe('the agent\'s process lock', () => {
  it('is not taken while a live process holds it, and names that process', async (t) => {
    const dir = lockDir(t);
    assert.deepEqual(await new ProcessLock(dir, 'first', process.pid).take(), { taken: true });
    const second = await new ProcessLock(dir, 'second', process.pid + 1_000_000).take();
    assert.equal(second.taken, false);
    assert.deepEqual(second.taken ? undefined : [second.holder.pid, second.holder.token], [process.pid, 'first']);
    assert.equal(JSON.parse(readFileSync(join(dir, 'agent.lock'), 'utf8')).token, 'first', 'the refused taker overwrote the lock');
  });

  it('is taken from a dead process, with that process\'s token as the predecessor', async (t) => {
    const dir = lockDir(t);
    const pid = deadPid();
    assert.deepEqual(await new ProcessLock(dir, 'dead-process-token', pid).take(), { taken: true });
    assert.deepEqual(await new ProcessLock(dir, 'restart-token', process.pid).take(), { taken: true, predecessor: 'dead-process-token' });
    assert.equal(JSON.parse(readFileSync(join(dir, 'agent.lock'), 'utf8')).pid, process.pid);
  });

  it('is taken when its file is torn (a crash mid-write), with no predecessor', async (t) => {
    const dir = lockDir(t);
    await new ProcessLock(dir, 'first', process.pid).take();
    writeFileSync(join(dir, 'agent.lock'), '{"pid": 12');
    assert.deepEqual(await new ProcessLock(dir, 'after-crash', process.pid + 1_000_000).take(), { taken: true });
  });

  it('is taken again by the process that holds it, without naming itself as a predecessor', async (t) => {
    const dir = lockDir(t);
    const lock = new ProcessLock(dir, 'mine', process.pid);
    await lock.take();
    assert.deepEqual(await lock.take(), { taken: true });
  });
});
