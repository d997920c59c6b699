import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { HeadBucketCommand } from '@aws-sdk/client-s3';
import { dynamoClientFor } from '../../../agent/local/dynamodb.js';
import { pidAlive } from '../../../agent/server/process-util.js';
import { s3ClientFor } from '../../../agent/local/s3.js';
import { parseEnvFile } from '../../../agent/local/stack.js';
import { runCli } from '../../harness/cli.js';

describe('squirrel local up|down', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sq-local-cli-'));
  after(async () => {
    await runCli(['local', 'down', '--dir', dir]); // whatever a failed assertion left running
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts S3 and DynamoDB that outlive the command, writes DIR/env, and local down stops them', async () => {
    // WHEN
    const up = await runCli(['local', 'up', '--dir', dir]);
    assert.equal(up.code, 0, up.stderr);

    // THEN DIR/env points at a bucket and a table that exist, after the command has returned
    const env = parseEnvFile(readFileSync(join(dir, 'env'), 'utf8'));
    assert.deepEqual(Object.keys(env).sort(), [
      'AWS_ACCESS_KEY_ID',
      'AWS_REGION',
      'AWS_SECRET_ACCESS_KEY',
      'SQUIRREL_BUCKET',
      'SQUIRREL_CLUSTER_ID',
      'SQUIRREL_DYNAMODB_ENDPOINT',
      'SQUIRREL_REGION',
      'SQUIRREL_S3_ENDPOINT',
      'SQUIRREL_TABLE',
    ]);
    assert.equal(env.SQUIRREL_CLUSTER_ID, 'demo');
    const s3 = s3ClientFor(env.SQUIRREL_S3_ENDPOINT!);
    const ddb = dynamoClientFor(env.SQUIRREL_DYNAMODB_ENDPOINT!);
    try {
      await s3.send(new HeadBucketCommand({ Bucket: env.SQUIRREL_BUCKET }));
      const table = await ddb.send(new DescribeTableCommand({ TableName: env.SQUIRREL_TABLE }));
      assert.equal(table.Table?.TableStatus, 'ACTIVE');
    } finally {
      s3.destroy();
      ddb.destroy();
    }
    const pids = (JSON.parse(readFileSync(join(dir, 'pids.json'), 'utf8')) as { processes: { pid: number }[] }).processes.map((p) => p.pid);
    assert.equal(pids.length, 2);
    assert.ok(pids.every(pidAlive));

    // WHEN up runs again THEN it changes nothing
    const again = await runCli(['local', 'up', '--dir', dir]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /already running/);
    assert.deepEqual(parseEnvFile(readFileSync(join(dir, 'env'), 'utf8')), env);

    // WHEN down runs THEN both processes are gone, and a second down is a no-op
    const down = await runCli(['local', 'down', '--dir', dir]);
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stdout, /stopped s3 \(pid \d+\), dynamodb \(pid \d+\)/);
    for (let i = 0; i < 40 && pids.some(pidAlive); i++) await sleep(50);
    assert.deepEqual(pids.filter(pidAlive), []);
    assert.equal(existsSync(join(dir, 'pids.json')), false);
    const downAgain = await runCli(['local', 'down', '--dir', dir]);
    assert.equal(downAgain.code, 0, downAgain.stderr);
    assert.match(downAgain.stdout, /nothing running/);
  });
});

describe('squirrel local cluster up --lossless', () => {
  it('refuses a mode that does not exist, naming the ones that do, and starts nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sq-cluster-cli-'));
    try {
      const up = await runCli(['local', 'cluster', 'up', '--dir', dir, '--lossless', 'always']);
      assert.notEqual(up.code, 0);
      assert.match(up.stderr, /--lossless must be off, strict, best-effort, not always/);
      assert.equal(existsSync(join(dir, 'cluster.json')), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
