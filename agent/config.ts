import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError, type ConfigProblem } from './errors.js';

/**
 * Configuration comes from an optional file (YAML or JSON, camelCase keys) and `SQUIRREL_*`
 * environment variables; the environment wins. Every value is validated at once, so a bad
 * configuration reports all of its problems in one go.
 */
const mysqlUrl = z
  .string()
  .refine((v) => {
    try {
      const u = new URL(v);
      return u.protocol === 'mysql:' || u.protocol === 'mariadb:';
    } catch {
      return false;
    }
  }, 'a URL like mysql://user:password@host:3306');

const httpUrl = z.string().url('an http(s) URL like http://127.0.0.1:4569');
const duration = z.string().regex(/^(\d+[wdhms])+$/, 'a duration like 30d, 12h, 90m or 1d12h');
const durationMs = z.coerce.number().int().positive();

export const configSchema = z.object({
  clusterId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, '1-63 letters, digits, _ . - starting with a letter or digit'),
  mysqlUrl,
  bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'an S3 bucket name: 3-63 lowercase letters, digits, . -'),
  prefix: z.string().regex(/^$|^[^/].*\/$/, 'empty, or a key prefix ending in "/" (e.g. "prod/")'),
  table: z.string().regex(/^[A-Za-z0-9_.-]{3,255}$/, 'a DynamoDB table name: 3-255 letters, digits, _ . -'),
  region: z.string().min(1),
  s3Endpoint: httpUrl,
  dynamodbEndpoint: httpUrl,
  /** server_id the agent registers with; must differ from every server in the topology. */
  serverId: z.coerce.number().int().min(1).max(4294967295),
  /** Cut a chunk once it holds this many bytes (at the next transaction boundary). */
  chunkMaxBytes: z.coerce.number().int().min(4096),
  /** Cut a chunk once its first event is this old (at the next transaction boundary). */
  chunkMaxAgeMs: durationMs,
  /**
   * How chunks are stored: `zstd` compresses each one (level 1, about 3.5x on row events; readers
   * decode by each object's `encoding` metadata), `none` stores the binlog bytes as they are.
   */
  chunkEncoding: z.enum(['none', 'zstd']),
  /** Chunk uploads running at once. */
  uploadConcurrency: z.coerce.number().int().min(1).max(64),
  /** Chunk bytes held in memory (uploading or waiting their turn) before reading the binlog pauses. */
  uploadBufferBytes: z.coerce.number().int().min(1024 * 1024),
  heartbeatIntervalMs: durationMs,
  leaseMs: durationMs,
  /**
   * On SIGTERM/SIGINT `squirrel agent` exits within this many ms: it stores what it holds and
   * releases its lease, and gives up on whatever is left when the time runs out (exit code 3).
   */
  stopTimeoutMs: z.coerce.number().int().min(1000, 'at least 1000 (ms)').max(3_600_000, 'at most 3600000 (ms)'),
  /** Identity of this agent in the cluster's lease; stable across restarts. Default: host name and server address. */
  agentId: z.string().min(1).max(200),
  /**
   * The instance this agent's server runs on (EC2: its instance id). A claim names its primary by
   * instance id and port when it has one; without it, by host and port of mysqlUrl.
   */
  instanceId: z.string().min(1).max(200),
  /** Where the agent keeps its process lock (one agent per server). Default: under the system temp dir, per cluster and server. */
  stateDir: z.string().min(1),
  /**
   * Lossless mode: the agent is a semi-synchronous replica and acknowledges a commit only once the
   * chunk holding it is stored and the durable position covers it (the primary needs
   * rpl_semi_sync_master_enabled=ON and, to be lossless, rpl_semi_sync_master_wait_point=AFTER_SYNC).
   * `strict` refuses to stream from a primary without semi-sync; `best-effort` then streams
   * asynchronously with a warning; `off` (the default) never asks for semi-sync.
   */
  lossless: z.enum(['off', 'strict', 'best-effort']),
  /** What a fenced agent does to its server: make it read-only, or shut it down. */
  fenceAction: z.enum(['read-only', 'shutdown']),
  /** An agent that cannot renew its lease for leaseMs fences its own server (docs/fencing.md). */
  selfFence: z.preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean()),
  /** Write chunks and backups to this local directory (a mounted volume) instead of S3. */
  storeDir: z.string().min(1),
  /** `squirrel agent` takes a base backup once the newest complete one is this old (e.g. 24h). Unset: never. */
  backupInterval: duration,
  backupKind: z.enum(['physical', 'logical']),
  /** `squirrel agent` prunes what no restore target this far back needs (e.g. 7d). Unset: never. */
  retention: duration,
  pruneInterval: duration,
  /**
   * `squirrel agent` appends its metrics to this file, one line a `metricsIntervalMs`, in
   * CloudWatch's embedded metric format (agent/metrics.ts; docs/deploy.md); "-" writes them to
   * stdout. Unset: no metrics.
   */
  metricsFile: z.string().min(1),
  metricsIntervalMs: z.coerce.number().int().min(1000, 'at least 1000 (ms)'),
  serveUser: z.string().min(1),
  servePassword: z.string(),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']),
});

export type Config = z.infer<typeof configSchema>;
export type ConfigKey = keyof Config;

export const defaults: Partial<Config> = {
  prefix: '',
  region: 'us-east-1',
  serverId: 4_000_000_001,
  chunkMaxBytes: 8 * 1024 * 1024,
  // lag p99 under 1 s at under 2 PUTs/s under load, none when idle (docs/benchmarks.md, bench/chunk-age.ts)
  chunkMaxAgeMs: 500,
  chunkEncoding: 'none',
  uploadConcurrency: 4,
  uploadBufferBytes: 16 * 1024 * 1024,
  heartbeatIntervalMs: 1000,
  leaseMs: 15_000,
  stopTimeoutMs: 10_000,
  fenceAction: 'read-only',
  lossless: 'off',
  selfFence: true,
  backupKind: 'physical',
  pruneInterval: '1h',
  metricsIntervalMs: 60_000,
  serveUser: 'squirrel',
  logLevel: 'info',
};

/** `clusterId` -> `SQUIRREL_CLUSTER_ID` */
export function envName(key: ConfigKey): string {
  return `SQUIRREL_${key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()}`;
}

const keys = Object.keys(configSchema.shape) as ConfigKey[];

export interface ConfigSources {
  file?: string;
  env: NodeJS.ProcessEnv;
}

function readFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([{ key: '--config', value: path, expected: 'a readable YAML or JSON file' }], { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text); // YAML is a superset of JSON
  } catch (err) {
    throw new ConfigError([{ key: '--config', value: path, expected: `valid YAML or JSON (${(err as Error).message.split('\n')[0]})` }]);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError([{ key: '--config', value: path, expected: 'a mapping of keys to values at the top level' }]);
  }
  return parsed as Record<string, unknown>;
}

/**
 * Loads and validates the configuration. `required` lists the keys this command cannot run
 * without; every other key is validated only when present. Throws ConfigError with every problem.
 */
export function loadConfig<K extends ConfigKey>(sources: ConfigSources, required: readonly K[]): Partial<Config> & Pick<Config, K> {
  const problems: ConfigProblem[] = [];
  const fromFile = sources.file ? readFile(sources.file) : {};
  for (const key of Object.keys(fromFile)) {
    if (!(keys as string[]).includes(key)) {
      problems.push({ key, value: fromFile[key], expected: `one of the known keys: ${keys.join(', ')}` });
    }
  }
  const raw: Record<string, unknown> = { ...defaults };
  for (const key of keys) {
    if (fromFile[key] !== undefined) raw[key] = fromFile[key];
    const fromEnv = sources.env[envName(key)];
    if (fromEnv !== undefined && fromEnv !== '') raw[key] = fromEnv;
  }
  const result = configSchema.partial().safeParse(raw);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const key = String(issue.path[0]) as ConfigKey;
      problems.push({ key: label(key, sources, fromFile), value: raw[key], expected: issue.message });
    }
  }
  for (const key of required) {
    if (raw[key] === undefined) {
      problems.push({ key: label(key, sources, fromFile), value: undefined, expected: `required: set ${envName(key)} or "${key}" in the config file` });
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return result.data as Partial<Config> & Pick<Config, K>;
}

function label(key: ConfigKey, sources: ConfigSources, fromFile: Record<string, unknown>): string {
  const env = envName(key);
  if (sources.env[env] !== undefined && sources.env[env] !== '') return env;
  if (fromFile[key] !== undefined) return `${key} (${sources.file})`;
  return `${key} / ${env}`;
}

/** Renders ConfigError problems one per line for the terminal. */
export function formatConfigProblems(err: ConfigError): string {
  const lines = err.problems.map((p) => {
    const shown = p.value === undefined ? 'missing' : JSON.stringify(redact(p.key, p.value));
    return `  ${p.key}: ${shown} -- expected ${p.expected}`;
  });
  return [`${err.message}`, ...lines].join('\n');
}

function redact(key: string, value: unknown): unknown {
  if (typeof value !== 'string') return value;
  if (/PASSWORD|password/.test(key)) return '***';
  if (/MYSQL_URL|mysqlUrl/.test(key)) return value.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
  return value;
}

/** Parses a mysql:// URL into connection options. */
export function parseMysqlUrl(url: string): { host: string; port: number; user: string; password: string; database?: string } {
  const u = new URL(url);
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 3306,
    user: decodeURIComponent(u.username || 'root'),
    password: decodeURIComponent(u.password),
    ...(database ? { database } : {}),
  };
}
