import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, before, after } from 'node:test';
import { envName, formatConfigProblems, loadConfig, parseMysqlUrl } from '../../agent/config.js';
import { ConfigError } from '../../agent/errors.js';

describe('configuration', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'squirrel-config-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('names environment variables after keys', () => {
    assert.equal(envName('clusterId'), 'SQUIRREL_CLUSTER_ID');
    assert.equal(envName('mysqlUrl'), 'SQUIRREL_MYSQL_URL');
    assert.equal(envName('s3Endpoint'), 'SQUIRREL_S3_ENDPOINT');
    assert.equal(envName('dynamodbEndpoint'), 'SQUIRREL_DYNAMODB_ENDPOINT');
  });

  it('reads a YAML file, lets the environment override it, and fills defaults', async () => {
    const file = join(dir, 'c.yaml');
    await writeFile(file, 'clusterId: prod-1\nbucket: my-backups\ntable: squirrel\nchunkMaxBytes: 65536\n');
    const c = loadConfig({ file, env: { SQUIRREL_BUCKET: 'other-bucket' } }, ['clusterId', 'bucket', 'table']);
    assert.equal(c.clusterId, 'prod-1');
    assert.equal(c.bucket, 'other-bucket');
    assert.equal(c.chunkMaxBytes, 65536);
    assert.equal(c.prefix, '');
    assert.equal(c.region, 'us-east-1');
  });

  it('reads a JSON file', async () => {
    const file = join(dir, 'c.json');
    await writeFile(file, JSON.stringify({ clusterId: 'a1', mysqlUrl: 'mysql://u:p@db:3307' }));
    const c = loadConfig({ file, env: {} }, ['mysqlUrl']);
    assert.deepEqual(parseMysqlUrl(c.mysqlUrl), { host: 'db', port: 3307, user: 'u', password: 'p' });
  });

  it('reports every problem at once with the key, the bad value and what is valid', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(file, 'bucket: Bad_Bucket\nchunkMaxBytes: 10\ncolour: blue\n');
    let err: unknown;
    try {
      loadConfig({ file, env: { SQUIRREL_MYSQL_URL: 'http://x', SQUIRREL_PASSWORD_X: 'y' } }, ['clusterId', 'table']);
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof ConfigError);
    const byKey = new Map(err.problems.map((p) => [p.key.split(' ')[0], p]));
    assert.equal(byKey.get('bucket')?.value, 'Bad_Bucket');
    assert.match(byKey.get('bucket')!.expected, /S3 bucket name/);
    assert.equal(byKey.get('chunkMaxBytes')?.value, 10);
    assert.equal(byKey.get('colour')?.value, 'blue');
    assert.equal(byKey.get('SQUIRREL_MYSQL_URL')?.value, 'http://x');
    assert.match(byKey.get('SQUIRREL_MYSQL_URL')!.expected, /mysql:\/\//);
    assert.match(byKey.get('clusterId')!.expected, /required: set SQUIRREL_CLUSTER_ID/);
    assert.ok(byKey.has('table'));
    assert.equal(err.problems.length, 6);
    const text = formatConfigProblems(err);
    assert.match(text, /6 problems/);
    assert.match(text, /chunkMaxBytes \(.*\): 10 -- expected/);
  });

  it('never prints a password', () => {
    let err: unknown;
    try {
      loadConfig({ env: { SQUIRREL_MYSQL_URL: 'mysql://root:s3cret@h:notaport' } }, []);
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof ConfigError);
    assert.doesNotMatch(formatConfigProblems(err), /s3cret/);
  });

  it('reports an unreadable or malformed file', async () => {
    assert.throws(() => loadConfig({ file: join(dir, 'missing.yaml'), env: {} }, []), ConfigError);
    const file = join(dir, 'list.yaml');
    await writeFile(file, '- a\n- b\n');
    assert.throws(() => loadConfig({ file, env: {} }, []), (e: unknown) => e instanceof ConfigError && /mapping/.test(e.problems[0]!.expected));
  });
});
