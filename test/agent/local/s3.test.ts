import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { s3ClientFor, startS3Server, type S3Server } from '../../../agent/local/s3.js';

const bucket = 'test-bucket';
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('base64');

/** The S3 error the SDK threw: its code and HTTP status. */
async function s3Error(p: Promise<unknown>): Promise<{ name: string; status: number | undefined }> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof S3ServiceException, `expected an S3 error, got ${String(err)}`);
    return { name: err.name, status: err.$metadata.httpStatusCode };
  }
  assert.fail('expected the request to fail');
}

async function read(client: S3Client, key: string): Promise<Buffer> {
  const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await got.Body!.transformToByteArray());
}

describe('local S3 stand-in', () => {
  let server: S3Server;
  let client: S3Client;
  before(async () => {
    server = await startS3Server({ bucket });
    client = s3ClientFor(server.endpoint);
  });
  after(async () => {
    client?.destroy();
    await server?.stop();
  });

  it('stores a body byte for byte and returns its SHA-256 only when asked', async () => {
    const body = randomBytes(100_000);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'plain/blob', Body: body, ChecksumSHA256: sha256(body) }));
    assert.ok((await read(client, 'plain/blob')).equals(body), 'no aws-chunked framing stored with the body');
    const asked = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'plain/blob', ChecksumMode: 'ENABLED' }));
    assert.equal(asked.ChecksumSHA256, sha256(body));
    const notAsked = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'plain/blob' }));
    assert.equal(notAsked.ChecksumSHA256, undefined);
  });

  it('refuses to overwrite an object with If-None-Match: * (412) and keeps the first body', async () => {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'once/a', Body: Buffer.from('first'), IfNoneMatch: '*' }));
    const err = await s3Error(client.send(new PutObjectCommand({ Bucket: bucket, Key: 'once/a', Body: Buffer.from('second'), IfNoneMatch: '*' })));
    assert.deepEqual(err, { name: 'PreconditionFailed', status: 412 });
    assert.equal((await read(client, 'once/a')).toString(), 'first');
  });

  it('lets exactly one of many concurrent If-None-Match writers win', async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 6 }, (_, i) => client.send(new PutObjectCommand({ Bucket: bucket, Key: 'race/k', Body: Buffer.from(`writer ${i}`), IfNoneMatch: '*' }))),
    );
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    const winner = results.findIndex((r) => r.status === 'fulfilled');
    assert.equal((await read(client, 'race/k')).toString(), `writer ${winner}`);
  });

  it('overwrites only when If-Match names the current ETag (412 otherwise, 404 when missing)', async () => {
    const first = await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'cas/k', Body: Buffer.from('v1') }));
    const second = await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'cas/k', Body: Buffer.from('v2'), IfMatch: first.ETag }));
    assert.notEqual(second.ETag, first.ETag);
    const stale = await s3Error(client.send(new PutObjectCommand({ Bucket: bucket, Key: 'cas/k', Body: Buffer.from('v3'), IfMatch: first.ETag })));
    assert.deepEqual(stale, { name: 'PreconditionFailed', status: 412 });
    assert.equal((await read(client, 'cas/k')).toString(), 'v2');
    const missing = await s3Error(client.send(new PutObjectCommand({ Bucket: bucket, Key: 'cas/none', Body: Buffer.from('x'), IfMatch: first.ETag })));
    assert.deepEqual(missing, { name: 'NoSuchKey', status: 404 });
  });

  it('still overwrites without a condition, as S3 does', async () => {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'free/k', Body: Buffer.from('a') }));
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'free/k', Body: Buffer.from('b') }));
    assert.equal((await read(client, 'free/k')).toString(), 'b');
  });

  it('rejects a body that does not match x-amz-checksum-sha256 (400 BadDigest) and stores nothing', async () => {
    const wrong = sha256(Buffer.from('something else'));
    const err = await s3Error(client.send(new PutObjectCommand({ Bucket: bucket, Key: 'digest/k', Body: Buffer.from('payload'), ChecksumSHA256: wrong })));
    assert.deepEqual(err, { name: 'BadDigest', status: 400 });
    assert.deepEqual(await s3Error(client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'digest/k' }))), { name: 'NotFound', status: 404 });
  });

  it('checks UploadPart checksums and completes a multipart upload only onto a free key with If-None-Match: *', async () => {
    const part = randomBytes(64 * 1024);
    const upload = async (key: string): Promise<string> => {
      const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
      const bad = await s3Error(
        client.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 1, Body: part, ChecksumSHA256: sha256(Buffer.from('nope')) })),
      );
      assert.deepEqual(bad, { name: 'BadDigest', status: 400 });
      const { ETag } = await client.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 1, Body: part, ChecksumSHA256: sha256(part) }));
      return JSON.stringify({ UploadId, ETag });
    };
    const complete = (key: string, handle: string): Promise<unknown> => {
      const { UploadId, ETag } = JSON.parse(handle) as { UploadId: string; ETag: string };
      return client.send(
        new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, IfNoneMatch: '*', MultipartUpload: { Parts: [{ PartNumber: 1, ETag }] } }),
      );
    };
    const a = await upload('multi/k');
    const b = await upload('multi/k');
    await complete('multi/k', a);
    assert.ok((await read(client, 'multi/k')).equals(part));
    assert.deepEqual(await s3Error(complete('multi/k', b)), { name: 'PreconditionFailed', status: 412 });
  });

  it('lists more than one page in key order, every key once, and resumes from its continuation token', async () => {
    const keys = [...Array.from({ length: 1203 }, (_, i) => `many/k${String(i).padStart(4, '0')}`), 'many/a/1', 'many/a/2', 'many/zz/3'];
    for (let i = 0; i < keys.length; i += 32) {
      await Promise.all(keys.slice(i, i + 32).map((Key) => client.send(new PutObjectCommand({ Bucket: bucket, Key, Body: Buffer.from(Key) }))));
    }
    /** Every page of one listing: its keys and common prefixes, in the order served. */
    const pages = async (input: { Prefix: string; Delimiter?: string; MaxKeys?: number; StartAfter?: string }) => {
      const out: { keys: string[]; prefixes: string[] }[] = [];
      let ContinuationToken: string | undefined;
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, ...input, ContinuationToken }));
        out.push({ keys: (page.Contents ?? []).map((c) => c.Key!), prefixes: (page.CommonPrefixes ?? []).map((p) => p.Prefix!) });
        assert.equal(page.KeyCount, out.at(-1)!.keys.length + out.at(-1)!.prefixes.length);
        ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (ContinuationToken);
      return out;
    };
    const sorted = [...keys].sort();
    const flat = await pages({ Prefix: 'many/' });
    assert.deepEqual(flat.map((p) => p.keys.length), [1000, 206]);
    assert.deepEqual(flat.flatMap((p) => p.keys), sorted);

    const grouped = await pages({ Prefix: 'many/', Delimiter: '/', MaxKeys: 500 });
    assert.deepEqual(grouped.map((p) => p.keys.length + p.prefixes.length), [500, 500, 205]);
    assert.deepEqual(grouped.flatMap((p) => p.prefixes), ['many/a/', 'many/zz/']);
    assert.deepEqual(grouped.flatMap((p) => p.keys), sorted.filter((k) => /^many\/[^/]+$/.test(k)));

    const after = await pages({ Prefix: 'many/', StartAfter: 'many/k1199' });
    assert.deepEqual(after.flatMap((p) => p.keys), ['many/k1200', 'many/k1201', 'many/k1202', 'many/zz/3']);
    const bad = await s3Error(client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'many/', ContinuationToken: 'bm90LW91cnM' })));
    assert.deepEqual(bad, { name: 'InvalidArgument', status: 400 });
    // still behind the stand-in's authentication, as S3's listing is
    const stranger = new S3Client({ endpoint: server.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'wrong', secretAccessKey: 'wrong' } });
    try {
      assert.deepEqual(await s3Error(stranger.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'many/' }))), { name: 'InvalidAccessKeyId', status: 403 });
    } finally {
      stranger.destroy();
    }
  });

  it('removes its temporary directory on stop', async () => {
    const other = await startS3Server();
    assert.ok(existsSync(other.dir));
    await other.stop();
    assert.equal(existsSync(other.dir), false);
  });
});
