import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { BackupManifest } from '../../agent/backup/manifest.js';
import type { ObjectStore } from '../../agent/ports/object-store.js';

/**
 * Holds `mariadb-dump` back between its start and its snapshot, for as long as a test needs:
 * a wrapper of the same name first on PATH that, once started, waits for `release()` before it
 * execs the real tool (`--version` passes straight through). With `--single-transaction
 * --master-data` MariaDB's dump takes no FLUSH TABLES WITH READ LOCK (it reads the snapshot's
 * binlog position with START TRANSACTION WITH CONSISTENT SNAPSHOT), so no lock from another
 * session can delay its snapshot; holding the process is the reliable way to open the gap.
 * PATH is restored and the hold released when the test ends.
 */
export function holdDumpBeforeSnapshot(t: TestContext): { started: () => Promise<void>; release: () => void } {
  const real = execFileSync('sh', ['-c', 'command -v mariadb-dump']).toString().trim();
  const dir = mkdtempSync(join(tmpdir(), 'sq-dump-hold-'));
  const script = [
    '#!/bin/sh',
    `case " $* " in *" --version "*) exec '${real}' "$@";; esac`,
    `touch '${dir}/started'`,
    `while [ ! -e '${dir}/go' ]; do sleep 0.02; done`,
    `exec '${real}' "$@"`,
  ].join('\n');
  writeFileSync(join(dir, 'mariadb-dump'), `${script}\n`);
  chmodSync(join(dir, 'mariadb-dump'), 0o755);
  const path = process.env.PATH;
  process.env.PATH = `${dir}:${path ?? ''}`;
  const release = () => writeFileSync(join(dir, 'go'), '');
  t.after(() => {
    release();
    process.env.PATH = path;
    // the wrapper may still be polling for a moment: let it see `go` before its directory goes
    setTimeout(() => rmSync(dir, { recursive: true, force: true }), 500).unref();
  });
  const started = async () => {
    const deadline = Date.now() + 30_000;
    while (!existsSync(join(dir, 'started'))) {
      if (Date.now() > deadline) throw new Error('mariadb-dump was not started within 30 s');
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  return { started, release };
}

/** The `app.seq` numbers a logical backup's dump holds, sorted. */
export async function dumpedNumbers(objects: ObjectStore, manifest: BackupManifest): Promise<number[]> {
  const stored = await objects.get(manifest.object.key);
  if (!stored) throw new Error(`no object ${manifest.object.key}`);
  const sql = execFileSync('zstd', ['-q', '-d', '-c'], { input: stored.body, maxBuffer: 1 << 30 }).toString('utf8');
  const out: number[] = [];
  // `INSERT INTO \`seq\` VALUES` then one row per line (10.11), or all on that line (older dumps)
  let inSeq = false;
  for (const line of sql.split('\n')) {
    if (line.startsWith('INSERT INTO `seq` VALUES')) inSeq = true;
    else if (line.startsWith('INSERT INTO ') || line.startsWith('UNLOCK TABLES')) inSeq = false;
    if (inSeq) for (const m of line.matchAll(/\((\d+),'row /g)) out.push(Number(m[1]));
  }
  return out.sort((a, b) => a - b);
}
