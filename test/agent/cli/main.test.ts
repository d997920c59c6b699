import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli } from '../../harness/cli.js';

describe('the squirrel command', () => {
  it('lists every command with a one-line description in --help', async () => {
    const r = await runCli(['--help']);
    assert.equal(r.code, 0);
    for (const command of ['agent', 'preflight', 'inspect', 'status', 'verify', 'local']) {
      assert.match(r.stdout, new RegExp(`^  ${command}\\b.*\\S`, 'm'), `${command} missing from --help`);
    }
  });

  it('reports every configuration problem at once, with key, value and what is valid, and exits 2', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'squirrel-cli-config-'));
    try {
      const file = join(dir, 'squirrel.yaml');
      await writeFile(file, 'table: x\nchunkMaxAgeMs: -5\n');
      const r = await runCli(['status', '--config', file], { env: { SQUIRREL_BUCKET: 'Not_A_Bucket', SQUIRREL_REGION: '' } });
      assert.equal(r.code, 2);
      assert.match(r.stderr, /invalid configuration: 4 problems/);
      assert.match(r.stderr, /SQUIRREL_BUCKET: "Not_A_Bucket" -- expected an S3 bucket name/);
      assert.match(r.stderr, /table \(.*squirrel\.yaml\): "x" -- expected a DynamoDB table name/);
      assert.match(r.stderr, /chunkMaxAgeMs \(.*\): -5 -- expected/);
      assert.match(r.stderr, /clusterId \/ SQUIRREL_CLUSTER_ID: missing -- expected required/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('exits 2 on an unknown option', async () => {
    const r = await runCli(['status', '--no-such-option']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown option/);
  });
});
