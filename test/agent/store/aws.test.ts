/**
 * The store contracts against the AWS adapters. By default they run on the local stand-ins
 * (s3rver with S3's conditional-write and checksum semantics, DynamoDB Local). To run the same
 * suites against real AWS, set SQUIRREL_CONTRACT_AWS=1 with SQUIRREL_BUCKET, SQUIRREL_TABLE
 * (key schema pk/sk, strings), SQUIRREL_REGION and AWS credentials in the environment; every
 * object and item they write is under a fresh `contract/<uuid>` prefix or key.
 */
import { after, before } from 'node:test';
import { startLocalStack, type LocalStack } from '../../../agent/local/stack.js';
import { S3ObjectStore } from '../../../agent/store/s3-object-store.js';
import { DynamoStateStore } from '../../../agent/store/dynamo-state-store.js';
import { dynamoClient, s3Client } from '../../../agent/wiring.js';
import { objectStoreContract } from './object-store-contract.js';
import { stateStoreContract } from './state-store-contract.js';

const aws = process.env.SQUIRREL_CONTRACT_AWS === '1';
let stack: LocalStack | undefined;

function target() {
  if (aws) {
    const need = (name: string) => {
      const v = process.env[name];
      if (!v) throw new Error(`SQUIRREL_CONTRACT_AWS=1 needs ${name}`);
      return v;
    };
    return { bucket: need('SQUIRREL_BUCKET'), table: need('SQUIRREL_TABLE'), region: process.env.SQUIRREL_REGION ?? 'us-east-1' };
  }
  return {
    bucket: stack!.bucket,
    table: stack!.table,
    region: stack!.region,
    s3Endpoint: stack!.s3.endpoint,
    dynamodbEndpoint: stack!.dynamodb.endpoint,
  };
}

if (!aws) {
  before(async () => {
    stack = await startLocalStack();
    // the local stand-ins accept only their own credentials
    for (const [k, v] of Object.entries(stack.env)) if (k.startsWith('AWS_')) process.env[k] = v;
  });
  after(async () => {
    await stack?.stop();
  });
}

const label = aws ? 'AWS' : 'local stand-ins';

objectStoreContract(`S3 (${label})`, async (opts) => {
  const t = target();
  const client = s3Client(t);
  return { store: new S3ObjectStore(client, t.bucket, opts), close: async () => client.destroy() };
});

stateStoreContract(`DynamoDB (${label})`, async () => {
  const t = target();
  return { store: new DynamoStateStore(dynamoClient(t), t.table), close: async () => undefined };
});
