import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { S3Client } from '@aws-sdk/client-s3';
import { registerChild } from '../server/children.js';
import { startService } from './service.js';

/**
 * The local S3 stand-in: s3rver in a child process (s3-server-main.ts), with S3's conditional
 * writes and SHA-256 checks added. Always a child process, so the same code serves tests
 * (attached: dies with the test) and `squirrel local up` (detached: outlives the command).
 */
export interface S3ServerOptions {
  /**
   * Directory of this stand-in: objects under `data/`, output in `server.log`.
   * @default a new temporary directory, removed by stop()
   */
  dir?: string;
  /** A bucket to create before answering. */
  bucket?: string;
  /** @default 0 (the server binds a free port itself and reports it) */
  port?: number;
  /** Outlive this process (for `local up`). @default false */
  detached?: boolean;
  /** @default 15000 */
  startTimeoutMs?: number;
}

export interface S3Server {
  /** `http://127.0.0.1:PORT` */
  readonly endpoint: string;
  readonly dir: string;
  readonly pid: number;
  stop(): Promise<void>;
}

/** s3rver's built-in account: the only credentials it accepts. DynamoDB Local accepts any. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

const serverMain = fileURLToPath(new URL('./s3-server-main.js', import.meta.url));

export async function startS3Server(opts: S3ServerOptions = {}): Promise<S3Server> {
  const owned = opts.dir === undefined;
  const dir = opts.dir ? resolve(opts.dir) : mkdtempSync(join(tmpdir(), 'sq-s3-'));
  mkdirSync(dir, { recursive: true });
  const detached = opts.detached ?? false;
  const removeDir = (): void => rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  const unregisterDir = owned && !detached ? registerChild(undefined, removeDir) : () => undefined;
  const args = [serverMain, '--dir', join(dir, 'data'), '--port', String(opts.port ?? 0)];
  if (opts.bucket) args.push('--bucket', opts.bucket);
  if (!detached) args.push('--exit-with-parent');
  try {
    const { service, value: endpoint } = await startService({
      name: 's3rver',
      command: process.execPath,
      args,
      logFile: join(dir, 'server.log'),
      detached,
      stdinPipe: true,
      timeoutMs: opts.startTimeoutMs ?? 15_000,
      ready: (log) => {
        const line = log().split('\n').find((l) => l.startsWith('{"endpoint"'));
        return line ? (JSON.parse(line) as { endpoint: string }).endpoint : undefined;
      },
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
    unregisterDir();
    if (owned) removeDir();
    throw err;
  }
}

/**
 * An S3 client for the local stand-in. Checksums only when an operation requires them: the
 * SDK's default aws-chunked CRC32 trailer is not understood by s3rver and would be stored as
 * part of the body. Send Buffers (not streams) as bodies.
 */
export function s3ClientFor(endpoint: string, region = 'us-east-1'): S3Client {
  return new S3Client({
    endpoint,
    region,
    forcePathStyle: true,
    credentials: LOCAL_CREDENTIALS,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}
