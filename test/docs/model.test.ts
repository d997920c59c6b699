import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

/**
 * Runs spin on docs/model/fencing.pml (see docs/model/README.md): each property under its own
 * switch must hold, and each mutation (one guard dropped) must be caught by the property it breaks.
 * Skips only when spin is not installed; `.ci/setup` installs it, so CI runs it.
 */
const model = fileURLToPath(new URL('../../../docs/model/fencing.pml', import.meta.url));
const spinMissing = spawnSync('spin', ['-V']).error !== undefined;
const skip = spinMissing ? 'spin is not installed (Debian package `spin`; .ci/setup installs it)' : false;

function run(cmd: string, args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}:\n${out}`))));
  });
}

/**
 * Generates the verifier with `defines`, compiles it, runs it; returns pan's error count and output.
 * A search that must cover the whole state space is compiled with -O2; one expected to stop at an
 * early violation with -O0 (compiling pan.c with -O2 takes longer than that search).
 */
async function check(defines: string[], optimize: '-O0' | '-O2'): Promise<{ errors: number; output: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'sq-spin-'));
  try {
    await run('spin', ['-a', ...defines.map((d) => `-D${d}`), model], dir);
    await run('cc', [optimize, '-w', '-DSAFETY', '-DHC4', '-o', 'pan', 'pan.c'], dir);
    const output = await run('./pan', ['-m100000'], dir).catch((err: Error) => err.message);
    const m = /errors: (\d+)/.exec(output);
    assert.ok(m, `pan gave no error count:\n${output}`);
    return { errors: Number(m[1]), output };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('the fencing model (spin)', { skip, concurrency: 2 }, () => {
  const holds: { property: string; extra?: string[]; says: string }[] = [
    { property: 'PROP_DURABLE', says: 'the durable position never names a missing object and never moves back' },
    { property: 'PROP_HANDOVER', says: 'after a claim of n+1 a restore uses exactly epoch n up to its handover' },
    { property: 'PROP_ONE_ADVANCER', says: 'at most one agent advances an epoch' },
    // without crashes: the fenced server's write and the old agent's upload of it are the case
    { property: 'PROP_FENCED_WRITES', extra: ['MAXCRASH=0'], says: 'a fenced server takes no write that a restore would keep' },
  ];
  for (const h of holds) {
    it(`finds no violation of "${h.says}" (${h.property})`, async () => {
      const { errors, output } = await check([h.property, ...(h.extra ?? [])], '-O2');
      assert.equal(errors, 0, output);
    });
  }

  const mutations: { mutation: string; property: string; extra?: string[]; says: string }[] = [
    { mutation: 'NO_CLAIM_SEQ_COND', property: 'PROP_HANDOVER', says: 'a claim not conditional on the durable seq it read records a stale handover' },
    { mutation: 'READER_TO_NEWEST', property: 'PROP_HANDOVER', says: 'a reader that runs an older epoch to its newest object refuses on a missing seq' },
    { mutation: 'READER_TO_NEWEST', property: 'PROP_FENCED_WRITES', extra: ['MAXCRASH=0'], says: 'a reader that runs an older epoch to its newest object keeps a fenced server\'s write' },
    { mutation: 'NO_OWNER_CHECK', property: 'PROP_ONE_ADVANCER', says: 'without the primary-identity check a fenced agent joins the next epoch and two agents advance it' },
    { mutation: 'LEASE_TOKEN=0', property: 'PROP_DURABLE', says: 'without a per-process lease token a dead process\'s late advance names a chunk its restart deleted' },
  ];
  for (const m of mutations) {
    it(`finds the violation when one guard is removed: ${m.says} (${m.mutation}, ${m.property})`, async () => {
      const { errors, output } = await check([m.property, m.mutation, ...(m.extra ?? [])], '-O0');
      assert.ok(errors > 0, `spin found nothing:\n${output}`);
      assert.match(output, /assertion violated/);
    });
  }
});
