// Runs every compiled test file with node's built-in runner. A test that hangs fails after 10
// minutes instead of holding CI until its limit. Files are found here rather than
// by a shell glob so that the command is the same on every shell and Node 20 (no --test globs).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('../dist/test/', import.meta.url).pathname;
const only = process.argv.slice(2);

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return walk(path);
    return name.endsWith('.test.js') ? [path] : [];
  });
}

const files = walk(root)
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();
const result = spawnSync(process.execPath, ['--enable-source-maps', '--test', '--test-reporter=spec', '--test-timeout=600000', ...files], {
  stdio: 'inherit',
  env: { ...process.env, SQUIRREL_TEST: '1' },
});
process.exit(result.status ?? 1);
