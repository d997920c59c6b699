import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateTableCommand, ResourceInUseException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ProcessError } from '../errors.js';
import { dynamoClientFor, startDynamoDbLocal, type DynamoDbLocal } from './dynamodb.js';
import { pidAlive } from '../server/process-util.js';
import { LOCAL_CREDENTIALS, startS3Server, type S3Server } from './s3.js';

/**
 * The local stand-ins together (S3 with a bucket, DynamoDB with squirrel's table), for tests,
 * the demo and `squirrel local up|down`.
 */
export interface LocalStackOptions {
  /**
   * Parent directory: S3 under `s3/`, DynamoDB under `dynamodb/`.
   * @default temporary directories, removed by stop()
   */
  dir?: string;
  /** Outlive this process (for `local up`). @default false */
  detached?: boolean;
  /** @default 'squirrel-local' */
  bucket?: string;
  /** @default 'squirrel' */
  table?: string;
  /** @default 'us-east-1' */
  region?: string;
  /** @default 'demo' */
  clusterId?: string;
}

export interface LocalStack {
  readonly s3: S3Server;
  readonly dynamodb: DynamoDbLocal;
  readonly bucket: string;
  readonly table: string;
  readonly region: string;
  readonly clusterId: string;
  /** The variables that point squirrel at this stack (see localEnv). */
  readonly env: Record<string, string>;
  stop(): Promise<void>;
}

export const LOCAL_DEFAULTS = { bucket: 'squirrel-local', table: 'squirrel', region: 'us-east-1', clusterId: 'demo' } as const;

/**
 * squirrel's table: one item per (pk, sk), on demand. The key names are the contract with the
 * DynamoDB adapter in agent/store.
 */
export async function createTable(client: DynamoDBClient, table: string): Promise<void> {
  try {
    await client.send(
      new CreateTableCommand({
        TableName: table,
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
        ],
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
  } catch (err) {
    if (!(err instanceof ResourceInUseException)) throw err; // kept from an earlier `local up`
  }
}

/** The environment that points every squirrel command at the local stand-ins. */
export function localEnv(v: { s3Endpoint: string; dynamodbEndpoint: string; bucket: string; table: string; region: string; clusterId: string }): Record<string, string> {
  return {
    SQUIRREL_S3_ENDPOINT: v.s3Endpoint,
    SQUIRREL_DYNAMODB_ENDPOINT: v.dynamodbEndpoint,
    SQUIRREL_BUCKET: v.bucket,
    SQUIRREL_TABLE: v.table,
    SQUIRREL_CLUSTER_ID: v.clusterId,
    SQUIRREL_REGION: v.region,
    AWS_REGION: v.region,
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
  };
}

export async function startLocalStack(opts: LocalStackOptions = {}): Promise<LocalStack> {
  const bucket = opts.bucket ?? LOCAL_DEFAULTS.bucket;
  const table = opts.table ?? LOCAL_DEFAULTS.table;
  const region = opts.region ?? LOCAL_DEFAULTS.region;
  const clusterId = opts.clusterId ?? LOCAL_DEFAULTS.clusterId;
  const detached = opts.detached ?? false;
  const sub = (name: string): { dir?: string } => (opts.dir ? { dir: join(resolve(opts.dir), name) } : {});
  const started = await Promise.allSettled([
    startS3Server({ ...sub('s3'), bucket, detached }),
    startDynamoDbLocal({ ...sub('dynamodb'), detached }),
  ]);
  const [s3, dynamodb] = started.map((r) => (r.status === 'fulfilled' ? r.value : undefined)) as [S3Server | undefined, DynamoDbLocal | undefined];
  const stop = async (): Promise<void> => {
    await Promise.all([s3?.stop(), dynamodb?.stop()]);
  };
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed || !s3 || !dynamodb) {
    await stop();
    throw failed?.reason;
  }
  const client = dynamoClientFor(dynamodb.endpoint, region);
  try {
    await createTable(client, table);
  } catch (err) {
    await stop();
    throw err;
  } finally {
    client.destroy();
  }
  const env = localEnv({ s3Endpoint: s3.endpoint, dynamodbEndpoint: dynamodb.endpoint, bucket, table, region, clusterId });
  return { s3, dynamodb, bucket, table, region, clusterId, env, stop };
}

const shellSafe = /^[A-Za-z0-9_./:@%+=,-]*$/;

/** `export NAME=value` lines, single-quoted where a shell needs it. */
export function formatEnvFile(values: Record<string, string>): string {
  return Object.entries(values)
    .map(([k, v]) => `export ${k}=${shellSafe.test(v) ? v : `'${v.replace(/'/g, `'\\''`)}'`}`)
    .join('\n')
    .concat('\n');
}

/** Reads back what formatEnvFile wrote (for tests and tools that do not run a shell). */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m || !m[1]) continue;
    const raw = (m[2] ?? '').trim();
    out[m[1]] = raw.startsWith("'") ? raw.slice(1, -1).replace(/'\\''/g, "'") : raw;
  }
  return out;
}

export function writeEnvFile(dir: string, values: Record<string, string>): string {
  const path = join(dir, 'env');
  writeFileSync(path, formatEnvFile(values));
  return path;
}

/** What `local up` records so that `local down` can stop it. */
interface PidsFile {
  dir: string;
  processes: { name: string; pid: number }[];
  env: Record<string, string>;
}

function readPids(dir: string): PidsFile | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'pids.json'), 'utf8')) as PidsFile;
  } catch {
    return undefined;
  }
}

/**
 * Whether `pid` is one of ours and still running: alive (not a zombie) and its command line
 * names `dir` (so a recycled pid is never killed). Without /proc, alive is enough.
 */
function ours(pid: number, dir: string): boolean {
  if (!pidAlive(pid)) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir);
  } catch {
    return !existsSync('/proc');
  }
}

export interface LocalUpResult {
  envFile: string;
  env: Record<string, string>;
  /** The stand-ins were already running for this directory; nothing was started. */
  alreadyRunning: boolean;
}

/**
 * `squirrel local up`: starts both stand-ins detached with their data under `dir`, records
 * their pids in `dir/pids.json` and writes `dir/env`. Running it again while they run changes
 * nothing. Data survives `local down`; a later `up` on the same directory finds it again.
 */
export async function localUp(dir: string, opts: Omit<LocalStackOptions, 'dir' | 'detached'> = {}): Promise<LocalUpResult> {
  const root = resolve(dir);
  mkdirSync(root, { recursive: true });
  const previous = readPids(root);
  if (previous && previous.processes.length > 0 && previous.processes.every((p) => ours(p.pid, root))) {
    return { envFile: writeEnvFile(root, previous.env), env: previous.env, alreadyRunning: true };
  }
  if (previous) await localDown(root); // half up: clear it before starting again
  const stack = await startLocalStack({ ...opts, dir: root, detached: true });
  const pids: PidsFile = {
    dir: root,
    processes: [
      { name: 's3', pid: stack.s3.pid },
      { name: 'dynamodb', pid: stack.dynamodb.pid },
    ],
    env: stack.env,
  };
  writeFileSync(join(root, 'pids.json'), `${JSON.stringify(pids, null, 2)}\n`);
  return { envFile: writeEnvFile(root, stack.env), env: stack.env, alreadyRunning: false };
}

/**
 * `squirrel local down`: stops what `local up` started for `dir` (SIGTERM, SIGKILL after 5 s)
 * and removes `pids.json`. Idempotent: nothing to stop is not an error. Returns what it stopped.
 */
export async function localDown(dir: string): Promise<{ name: string; pid: number }[]> {
  const root = resolve(dir);
  const recorded = readPids(root);
  const stopped: { name: string; pid: number }[] = [];
  for (const p of recorded?.processes ?? []) {
    if (!ours(p.pid, root)) continue;
    process.kill(p.pid, 'SIGTERM');
    for (let waited = 0; ours(p.pid, root) && waited < 5000; waited += 50) await sleep(50);
    if (ours(p.pid, root)) process.kill(p.pid, 'SIGKILL');
    for (let waited = 0; ours(p.pid, root) && waited < 5000; waited += 50) await sleep(50);
    if (ours(p.pid, root)) throw new ProcessError(p.name, `pid ${p.pid} survived SIGKILL`);
    stopped.push(p);
  }
  rmSync(join(root, 'pids.json'), { force: true });
  return stopped;
}
