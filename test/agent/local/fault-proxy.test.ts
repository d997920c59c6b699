import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PutObjectCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { startFaultProxy } from '../../../agent/local/fault-proxy.js';
import { LOCAL_CREDENTIALS } from '../../../agent/local/s3.js';
import { seededRandom } from '../../../agent/local/seeded-random.js';
import { withLocalStack } from '../../harness/stack.js';

const client = (endpoint: string, maxAttempts: number) =>
  new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: LOCAL_CREDENTIALS, maxAttempts, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });

describe('fault proxy in front of the local S3', () => {
  it('fails, resets and delays requests as planned, and the SDK gets through with its retries', async (t) => {
    const stack = await withLocalStack(t);
    const proxy = await startFaultProxy(stack.s3.endpoint, { delayMs: { min: 5, max: 20 }, errorRate: 0.2, resetRate: 0.2 }, seededRandom(7));
    t.after(() => proxy.stop());
    const s3 = client(proxy.endpoint, 10);
    t.after(() => s3.destroy());
    for (let i = 0; i < 30; i++) {
      await s3.send(new PutObjectCommand({ Bucket: stack.bucket, Key: `fault/${i}`, Body: Buffer.from(`body ${i}`) }));
      const got = await s3.send(new GetObjectCommand({ Bucket: stack.bucket, Key: `fault/${i}` }));
      assert.equal(await got.Body!.transformToString(), `body ${i}`);
    }
    const c = proxy.counts;
    t.diagnostic(JSON.stringify(c));
    assert.ok(c.requests > 60, `only ${c.requests} requests`);
    assert.equal(c.delayed, c.requests);
    assert.ok(c.errors > 0 && c.resetsBefore > 0 && c.resetsAfter > 0, JSON.stringify(c));
  });

  it('passes every request untouched with an empty plan', async (t) => {
    const stack = await withLocalStack(t);
    const proxy = await startFaultProxy(stack.s3.endpoint, {}, seededRandom(1));
    t.after(() => proxy.stop());
    const s3 = client(proxy.endpoint, 1);
    t.after(() => s3.destroy());
    await s3.send(new PutObjectCommand({ Bucket: stack.bucket, Key: 'plain', Body: Buffer.from('x') }));
    assert.deepEqual({ ...proxy.counts }, { requests: 1, delayed: 0, errors: 0, resetsBefore: 0, resetsAfter: 0 });
  });
});
