import { join } from 'node:path';
import type { LocalStack } from '../../agent/local/stack.js';

/** Where the local S3 stand-in keeps an object's body on disk (for tests that damage it). */
export function localObjectPath(stack: LocalStack, key: string): string {
  const parts = key.split('/');
  const last = parts.pop()!;
  return join(stack.s3.dir, 'data', stack.bucket, ...parts, `${last}._S3rver_object`);
}
