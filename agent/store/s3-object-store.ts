import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3ServiceException,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { ObjectExistsError, UnavailableError, ChecksumMismatchError, CopyTooLargeError, credentialsFailure } from '../errors.js';
import type { ObjectInfo, ObjectStore, PutStreamOptions, StoredObject } from '../ports/object-store.js';
import { parts, readAll } from './bytes.js';

/** S3's minimum part size is 5 MiB; 8 MiB parts keep about 8 MiB per part in flight, plus the one being filled, in memory. */
const PART_BYTES = 8 * 1024 * 1024;
/** The largest source CopyObject accepts (S3 answers 400 InvalidRequest above it). */
const COPY_LIMIT_BYTES = 5 * 1024 ** 3;

export interface S3ObjectStoreOptions {
  /** The largest source `copyIfAbsent` copies; injectable so tests reach the over-limit path. @default 5 GiB */
  copyLimitBytes?: number;
}

function b64(hex: string): string {
  return Buffer.from(hex, 'hex').toString('base64');
}

function statusOf(err: unknown): number | undefined {
  return err instanceof S3ServiceException ? err.$metadata.httpStatusCode : undefined;
}

/**
 * ObjectStore on S3 (or an S3-compatible server). Write-once uses `If-None-Match: *`, which S3
 * answers with 412 when the key exists; integrity uses `x-amz-checksum-sha256`, which S3 answers
 * with 400 BadDigest when the body does not match.
 */
export class S3ObjectStore implements ObjectStore {
  readonly copyLimitBytes: number;

  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    opts: S3ObjectStoreOptions = {},
  ) {
    this.copyLimitBytes = opts.copyLimitBytes ?? COPY_LIMIT_BYTES;
  }

  private where(key: string): string {
    return `s3://${this.bucket}/${key}`;
  }

  /** Maps SDK errors to the port's: 412 -> exists, BadDigest -> checksum, 5xx/network -> unavailable. */
  private translate(err: unknown, key: string, op: string): Error {
    const status = statusOf(err);
    const name = (err as { name?: string }).name;
    const denied = credentialsFailure(`s3 (${op} ${this.where(key)})`, err);
    if (denied) return denied;
    if (status === 412 || name === 'PreconditionFailed') return new ObjectExistsError(this.where(key), { cause: err });
    if (name === 'BadDigest' || name === 'XAmzContentSHA256Mismatch') {
      return new ChecksumMismatchError(this.where(key), 'sent sha-256', 'stored body', { cause: err });
    }
    if (status === undefined || status >= 500 || status === 429 || status === 409 || name === 'SlowDown') {
      return new UnavailableError('s3', `${op} ${this.where(key)}: ${(err as Error).message}`, { cause: err });
    }
    return err instanceof Error ? err : new Error(String(err));
  }

  async putIfAbsent(key: string, body: Buffer, sha256: string, metadata: Record<string, string>): Promise<void> {
    try {
      await this.s3.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, IfNoneMatch: '*', ChecksumSHA256: b64(sha256), Metadata: metadata }),
      );
    } catch (err) {
      throw this.translate(err, key, 'put');
    }
  }

  async putStreamIfAbsent(key: string, body: Readable, metadata: Record<string, string>, opts: PutStreamOptions = {}): Promise<{ sizeBytes: number; sha256: string }> {
    const hash = createHash('sha256');
    let sizeBytes = 0;
    let uploadId: string | undefined;
    const done: { PartNumber: number; ETag: string; ChecksumSHA256: string }[] = [];
    const inFlight = new Set<Promise<void>>();
    const maxInFlight = Math.max(1, opts.partsInFlight ?? 1);
    try {
      let partNumber = 0;
      for await (const part of parts(body, PART_BYTES)) {
        hash.update(part);
        sizeBytes += part.length;
        const partSha = createHash('sha256').update(part).digest('base64');
        if (uploadId === undefined && part.length < PART_BYTES) {
          // the whole body fits one part: a plain conditional put
          await this.s3.send(
            new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: part, IfNoneMatch: '*', ChecksumSHA256: partSha, Metadata: metadata }),
          );
          return { sizeBytes, sha256: hash.digest('hex') };
        }
        if (uploadId === undefined) {
          if (await this.head(key)) throw new ObjectExistsError(this.where(key));
          const created = await this.s3.send(
            new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key, Metadata: metadata, ChecksumAlgorithm: 'SHA256' }),
          );
          uploadId = created.UploadId;
        }
        const PartNumber = ++partNumber;
        const upload: Promise<void> = this.s3
          .send(new UploadPartCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, PartNumber, Body: part, ChecksumSHA256: partSha }))
          .then((up) => void done.push({ PartNumber, ETag: up.ETag ?? '', ChecksumSHA256: partSha }))
          .finally(() => inFlight.delete(upload));
        upload.catch(() => undefined); // observed below (race/all); this only keeps an early exit from leaving it unhandled
        inFlight.add(upload);
        if (inFlight.size >= maxInFlight) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
      if (uploadId === undefined) {
        // empty body
        const empty = createHash('sha256').digest('base64');
        await this.s3.send(
          new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: Buffer.alloc(0), IfNoneMatch: '*', ChecksumSHA256: empty, Metadata: metadata }),
        );
        return { sizeBytes, sha256: hash.digest('hex') };
      }
      // parts may finish out of order; S3 wants them listed in order
      done.sort((a, b) => a.PartNumber - b.PartNumber);
      await this.s3.send(
        new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, IfNoneMatch: '*', MultipartUpload: { Parts: done } }),
      );
      return { sizeBytes, sha256: hash.digest('hex') };
    } catch (err) {
      await Promise.allSettled(inFlight);
      if (uploadId !== undefined) {
        await this.s3.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId })).catch(() => undefined);
      }
      if (err instanceof ObjectExistsError) throw err;
      throw this.translate(err, key, 'multipart upload');
    }
  }

  async copyIfAbsent(from: string, to: string, metadata: Record<string, string>): Promise<void> {
    // checked here rather than left to S3's 400, so a smaller injected limit behaves the same
    const source = await this.head(from);
    if (source && source.sizeBytes > this.copyLimitBytes) throw new CopyTooLargeError(this.where(from), source.sizeBytes, this.copyLimitBytes);
    try {
      await this.s3.send(
        new CopyObjectCommand({
          Bucket: this.bucket,
          Key: to,
          CopySource: `${this.bucket}/${from.split('/').map(encodeURIComponent).join('/')}`,
          IfNoneMatch: '*',
          MetadataDirective: 'REPLACE',
          Metadata: metadata,
        }),
      );
    } catch (err) {
      throw this.translate(err, to, `copy from ${from}`);
    }
  }

  async get(key: string): Promise<StoredObject | undefined> {
    try {
      const res = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      const body = await readAll(res.Body as Readable, res.ContentLength);
      return { key, sizeBytes: body.length, metadata: res.Metadata ?? {}, body };
    } catch (err) {
      if (statusOf(err) === 404 || (err as Error).name === 'NoSuchKey') return undefined;
      throw this.translate(err, key, 'get');
    }
  }

  async getStream(key: string): Promise<Readable | undefined> {
    try {
      const res = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return res.Body as Readable;
    } catch (err) {
      if (statusOf(err) === 404 || (err as Error).name === 'NoSuchKey') return undefined;
      throw this.translate(err, key, 'get');
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const res = await this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { key, sizeBytes: res.ContentLength ?? 0, metadata: res.Metadata ?? {} };
    } catch (err) {
      if (statusOf(err) === 404 || (err as Error).name === 'NotFound') return undefined;
      throw this.translate(err, key, 'head');
    }
  }

  async *list(prefix: string, startAfter?: string): AsyncIterable<ObjectInfo> {
    let token: string | undefined;
    do {
      let res;
      try {
        res = await this.s3.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: prefix,
            ...(token ? { ContinuationToken: token } : startAfter ? { StartAfter: startAfter } : {}),
          }),
        );
      } catch (err) {
        throw this.translate(err, prefix, 'list');
      }
      for (const o of res.Contents ?? []) {
        if (o.Key !== undefined) yield { key: o.Key, sizeBytes: o.Size ?? 0, metadata: {} };
      }
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
  }

  async delete(key: string): Promise<void> {
    try {
      await this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (err) {
      throw this.translate(err, key, 'delete');
    }
  }
}
