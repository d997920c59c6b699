import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';

/**
 * What s3rver 3.7.1 lacks and squirrel relies on, added as one Koa middleware that runs in front
 * of s3rver's router (s3rver's `S3rver` class extends Koa; its router is the last entry of
 * `app.middleware`, see node_modules/s3rver/lib/s3rver.js):
 *
 * - PutObject and CompleteMultipartUpload honour `If-None-Match: *` (412 PreconditionFailed when
 *   the key exists) and `If-Match: <etag>` (412 when the ETag differs; 404 NoSuchKey when there is
 *   no object, as AWS answers). Writes to one key are serialized, so check-then-write is atomic
 *   as in S3 (which answers a race with 409; here the second writer simply sees the first).
 * - PutObject and UploadPart verify `x-amz-checksum-sha256` against the body (400 BadDigest).
 * - The checksum given on PutObject is stored and returned by GetObject/HeadObject when the
 *   client sends `x-amz-checksum-mode: ENABLED`.
 * - ListObjectsV2 is answered here, in place of s3rver's controller and behind its authentication
 *   (`orderedListing`). s3rver walks its directories in readdir order and cuts a page
 *   there, so pages are not in key order and a key can fall between two pages; and it makes its
 *   continuation tokens with DES, which OpenSSL 3 refuses, so every listing of more than one page
 *   failed with InternalError. Here a page is the next `max-keys` entries (keys and common
 *   prefixes together) in key order, and the token is the last entry, encoded.
 *
 * Bodies with a checksum are buffered in memory to verify them before s3rver stores anything.
 */

/** The few Koa context members the middleware uses (s3rver ships no types). */
interface KoaContext {
  method: string;
  path: string;
  query: Record<string, string | string[] | undefined>;
  headers: Record<string, string | string[] | undefined>;
  req: IncomingMessage | Readable;
  store: {
    getMetadata(bucket: string, key: string): Promise<{ etag: string }>;
    listObjects(bucket: string, options: ListOptions): Promise<StoreListing>;
  };
  body: unknown;
  params: Record<string, string>;
  set(name: string, value: string): void;
  remove(name: string): void;
  response: { get(name: string): string };
}
type Next = () => Promise<void>;
interface ListOptions {
  prefix: string;
  delimiter?: string;
  startAfter: string;
  maxKeys: number;
}
/** What s3rver's filesystem store returns from `listObjects`. */
interface StoreListing {
  objects: { key: string; lastModifiedDate: Date; size: number; metadata: Record<string, string> }[];
  commonPrefixes: string[];
}
export type KoaMiddleware = (ctx: KoaContext, next: Next) => Promise<void>;

const require = createRequire(import.meta.url);
type S3ErrorClass = new (code: string, message: string, detail?: Record<string, string>) => Error;
const S3Error = require('s3rver/lib/models/error') as S3ErrorClass;
const S3Object = require('s3rver/lib/models/object') as { ALLOWED_METADATA: string[] };

const CHECKSUM_HEADER = 'x-amz-checksum-sha256';

/** Makes s3rver keep `x-amz-checksum-sha256` with an object's metadata (it keeps a fixed list). */
export function storeChecksumMetadata(): void {
  if (!S3Object.ALLOWED_METADATA.includes(CHECKSUM_HEADER)) S3Object.ALLOWED_METADATA.push(CHECKSUM_HEADER);
}

/**
 * Makes s3rver answer ListObjectsV2 with `listObjectsV2` below. Its router calls the bucket
 * controller's `getBucket` through the module's exports at each request, after its own
 * authentication and bucket check, so replacing that export keeps both; ListObjects (v1) stays
 * s3rver's.
 */
export function orderedListing(): void {
  const controller = require('s3rver/lib/controllers/bucket') as { getBucket: (ctx: KoaContext) => Promise<void>; squirrelListing?: true };
  if (controller.squirrelListing) return;
  const original = controller.getBucket;
  controller.getBucket = (ctx) => (query(ctx, 'list-type') === '2' ? listObjectsV2(ctx, ctx.params.bucket!) : original(ctx));
  controller.squirrelListing = true;
}

type Operation = 'put' | 'part' | 'complete' | 'get' | 'other';

function header(ctx: KoaContext, name: string): string | undefined {
  const v = ctx.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function classify(ctx: KoaContext): Operation {
  const q = ctx.query;
  const sub = ['acl', 'tagging', 'legal-hold', 'retention', 'torrent', 'select', 'uploads'].some((s) => s in q);
  if (sub) return 'other';
  const upload = 'uploadId' in q;
  switch (ctx.method) {
    case 'PUT':
      return upload ? 'part' : 'put';
    case 'POST':
      return upload ? 'complete' : 'other';
    case 'GET':
    case 'HEAD':
      return upload ? 'other' : 'get';
    default:
      return 'other';
  }
}

/** Path-style only (`/bucket/key`), which is how clients reach the local stand-in. */
function target(path: string): { bucket: string; key: string } | undefined {
  const m = /^\/([^/]+)\/(.+)$/.exec(path);
  if (!m || !m[1] || !m[2]) return undefined;
  return { bucket: decodeURIComponent(m[1]), key: decodeURIComponent(m[2]) };
}

async function currentEtag(ctx: KoaContext, bucket: string, key: string): Promise<string | undefined> {
  try {
    return (await ctx.store.getMetadata(bucket, key)).etag;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

const unquote = (etag: string): string => etag.trim().replace(/^W\//, '').replace(/"/g, '');

async function checkPreconditions(ctx: KoaContext, bucket: string, key: string): Promise<void> {
  const ifNoneMatch = header(ctx, 'if-none-match');
  const ifMatch = header(ctx, 'if-match');
  if (ifNoneMatch === undefined && ifMatch === undefined) return;
  const etag = await currentEtag(ctx, bucket, key);
  if (ifNoneMatch !== undefined) {
    if (ifNoneMatch.trim() !== '*') {
      throw new S3Error('NotImplemented', 'If-None-Match on a write accepts only "*"', { Header: 'If-None-Match' });
    }
    if (etag !== undefined) {
      throw new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: 'If-None-Match' });
    }
  }
  if (ifMatch !== undefined) {
    if (etag === undefined) throw new S3Error('NoSuchKey', 'The specified key does not exist.', { Key: key });
    if (ifMatch.trim() !== '*' && unquote(ifMatch) !== unquote(etag)) {
      throw new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: 'If-Match' });
    }
  }
}

/** Reads the whole body, checks its SHA-256, and hands s3rver a replay of the same bytes. */
async function verifyChecksum(ctx: KoaContext): Promise<void> {
  const expected = header(ctx, CHECKSUM_HEADER);
  if (expected === undefined) return;
  const parts: Buffer[] = [];
  for await (const part of ctx.req) parts.push(part as Buffer);
  const body = Buffer.concat(parts);
  const actual = createHash('sha256').update(body).digest('base64');
  if (actual !== expected.trim()) {
    throw new S3Error('BadDigest', 'The SHA256 you specified did not match the calculated checksum.', {
      ExpectedChecksum: expected,
      CalculatedChecksum: actual,
    });
  }
  // s3rver's controllers read the body from ctx.req; headers and URL still come from
  // ctx.request.req, the original request, so only the body stream is replaced.
  ctx.req = Readable.from([body], { objectMode: false });
}

/** Serializes the writes to one key (check, then write) within this process. */
function keyLock(): <T>(key: string, fn: () => Promise<T>) => Promise<T> {
  const tails = new Map<string, Promise<unknown>>();
  return async (key, fn) => {
    const before = tails.get(key) ?? Promise.resolve();
    const run = before.then(fn, fn);
    const tail = run.catch(() => undefined);
    tails.set(key, tail);
    try {
      return await run;
    } finally {
      if (tails.get(key) === tail) tails.delete(key);
    }
  };
}

const TOKEN_PREFIX = 'squirrel:';
const query = (ctx: KoaContext, name: string): string | undefined => {
  const v = ctx.query[name];
  return Array.isArray(v) ? v[0] : v;
};

function startAfterOf(ctx: KoaContext): string {
  const token = query(ctx, 'continuation-token');
  if (token === undefined) return query(ctx, 'start-after') ?? '';
  const decoded = Buffer.from(token, 'base64url').toString('utf8');
  if (!decoded.startsWith(TOKEN_PREFIX)) {
    throw new S3Error('InvalidArgument', 'The continuation token provided is incorrect', { ArgumentName: 'continuation-token' });
  }
  return decoded.slice(TOKEN_PREFIX.length);
}

function maxKeysOf(ctx: KoaContext): number {
  const raw = query(ctx, 'max-keys');
  if (raw === undefined) return 1000;
  if (!/^\d+$/.test(raw)) {
    throw new S3Error('InvalidArgument', 'Provided max-keys not an integer or within integer range', { ArgumentName: 'max-keys', ArgumentValue: raw });
  }
  return Math.min(1000, Number(raw));
}

/** ListObjectsV2: the next `max-keys` keys and common prefixes after the start, in key order. */
async function listObjectsV2(ctx: KoaContext, bucket: string): Promise<void> {
  const prefix = query(ctx, 'prefix') ?? '';
  const delimiter = query(ctx, 'delimiter') || undefined;
  const startAfter = startAfterOf(ctx);
  const maxKeys = maxKeysOf(ctx);
  const all = await ctx.store.listObjects(bucket, { prefix, delimiter, startAfter, maxKeys: Infinity });
  const entries = [
    ...all.objects.map((object) => ({ key: object.key, object })),
    ...all.commonPrefixes.filter((p) => p > startAfter).map((p) => ({ key: p, object: undefined })),
  ].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const page = entries.slice(0, maxKeys);
  const truncated = entries.length > page.length;
  const last = page[page.length - 1];
  ctx.body = {
    ListBucketResult: {
      '@': { xmlns: 'http://doc.s3.amazonaws.com/2006-03-01/' },
      Name: bucket,
      Prefix: prefix,
      StartAfter: query(ctx, 'continuation-token') === undefined ? query(ctx, 'start-after') : undefined,
      ContinuationToken: query(ctx, 'continuation-token'),
      NextContinuationToken: truncated && last ? Buffer.from(TOKEN_PREFIX + last.key, 'utf8').toString('base64url') : undefined,
      KeyCount: page.length,
      MaxKeys: maxKeys,
      Delimiter: delimiter,
      IsTruncated: truncated,
      Contents: page.flatMap(({ object }) =>
        object
          ? [{ Key: object.key, LastModified: object.lastModifiedDate.toISOString(), ETag: object.metadata['etag'], Size: object.size, StorageClass: 'STANDARD' }]
          : [],
      ),
      CommonPrefixes: page.flatMap(({ key, object }) => (object ? [] : [{ Prefix: key }])),
    },
  };
}

export function conditionalWrites(): KoaMiddleware {
  const withLock = keyLock();
  return async (ctx, next) => {
    const op = classify(ctx);
    const where = target(ctx.path);
    if (op === 'other' || !where) return next();
    if (op === 'get') {
      await next();
      if (header(ctx, 'x-amz-checksum-mode')?.toUpperCase() !== 'ENABLED') ctx.remove(CHECKSUM_HEADER);
      return;
    }
    if (op === 'part') {
      await verifyChecksum(ctx);
      return next();
    }
    await withLock(`${where.bucket}/${where.key}`, async () => {
      await checkPreconditions(ctx, where.bucket, where.key);
      if (op === 'put') await verifyChecksum(ctx);
      await next();
    });
    const checksum = header(ctx, CHECKSUM_HEADER);
    if (op === 'put' && checksum !== undefined) ctx.set(CHECKSUM_HEADER, checksum);
  };
}
