import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { tailFile } from '../../agent/server/process-util.js';
import { startLocalStack, type LocalStack, type LocalStackOptions } from '../../agent/local/stack.js';

const failed = (t: object): boolean => (t as { passed?: boolean }).passed === false;

/**
 * Local S3 and DynamoDB (with squirrel's bucket and table) for one test, stopped when it ends;
 * their logs are printed when it failed. `stack.env` holds the SQUIRREL_* variables for them.
 */
export async function withLocalStack(t: TestContext, opts: Omit<LocalStackOptions, 'detached'> = {}): Promise<LocalStack> {
  const stack = await startLocalStack(opts);
  t.after(async () => {
    if (failed(t)) {
      for (const [name, dir] of [['s3rver', stack.s3.dir], ['DynamoDB Local', stack.dynamodb.dir]] as const) {
        process.stderr.write(`--- ${t.name}: ${name} log ---\n${tailFile(join(dir, 'server.log'), 40)}\n---\n`);
      }
    }
    await stack.stop();
  });
  return stack;
}
