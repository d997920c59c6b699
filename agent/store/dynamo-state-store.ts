import { ConditionalCheckFailedException, DynamoDBServiceException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ConditionFailedError, UnavailableError, credentialsFailure } from '../errors.js';
import type { Condition, Item, StateStore, Value } from '../ports/state-store.js';
import { renderCondition } from './condition.js';

/**
 * StateStore on one DynamoDB table with a string partition key `pk` and sort key `sk`.
 * Reads are strongly consistent; conditional failures surface as ConditionFailedError and are
 * not retried here.
 *
 * The SDK itself re-sends a request after throttling, a 5xx, a timeout or a reset connection. For
 * a conditional write that is not safe to repeat blindly: when the first attempt landed and only
 * its response was lost, the repeat fails its own condition, and ConditionFailedError then means
 * "done" rather than "someone else wrote". This adapter cannot tell the two apart; the caller
 * does, by re-reading the item and finding its own write in it (agent/cluster/own-write.ts). When
 * the SDK gives up, UnavailableError leaves the same question to the same caller.
 */
export class DynamoStateStore implements StateStore {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly table: string,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  private translate(err: unknown, pk: string, sk: string, op: string): Error {
    if (err instanceof ConditionalCheckFailedException) {
      return new ConditionFailedError(`dynamodb://${this.table}/${pk}/${sk}`, 'conditional write failed', { cause: err });
    }
    const denied = credentialsFailure(`dynamodb (${op} ${this.table}/${pk}/${sk})`, err);
    if (denied) return denied;
    const status = err instanceof DynamoDBServiceException ? err.$metadata.httpStatusCode : undefined;
    if (status === undefined || status >= 500 || (err as Error).name === 'ProvisionedThroughputExceededException') {
      return new UnavailableError('dynamodb', `${op} ${this.table}/${pk}/${sk}: ${(err as Error).message}`, { cause: err });
    }
    return err instanceof Error ? err : new Error(String(err));
  }

  async get(pk: string, sk: string): Promise<Item | undefined> {
    try {
      const res = await this.doc.send(new GetCommand({ TableName: this.table, Key: { pk, sk }, ConsistentRead: true }));
      return res.Item as Item | undefined;
    } catch (err) {
      throw this.translate(err, pk, sk, 'get');
    }
  }

  async query(pk: string, skPrefix = ''): Promise<Item[]> {
    const items: Item[] = [];
    let start: Record<string, unknown> | undefined;
    try {
      do {
        const res = await this.doc.send(
          new QueryCommand({
            TableName: this.table,
            ConsistentRead: true,
            KeyConditionExpression: skPrefix ? 'pk = :pk AND begins_with(sk, :sk)' : 'pk = :pk',
            ExpressionAttributeValues: skPrefix ? { ':pk': pk, ':sk': skPrefix } : { ':pk': pk },
            ...(start ? { ExclusiveStartKey: start } : {}),
          }),
        );
        items.push(...((res.Items ?? []) as Item[]));
        start = res.LastEvaluatedKey;
      } while (start);
    } catch (err) {
      throw this.translate(err, pk, skPrefix + '*', 'query');
    }
    return items;
  }

  private conditionParams(condition: Condition | undefined): {
    ConditionExpression?: string;
    ExpressionAttributeNames?: Record<string, string>;
    ExpressionAttributeValues?: Record<string, Value>;
  } {
    if (!condition) return {};
    const c = renderCondition(condition);
    return {
      ConditionExpression: c.expression,
      ...(Object.keys(c.names).length ? { ExpressionAttributeNames: c.names } : {}),
      ...(Object.keys(c.values).length ? { ExpressionAttributeValues: c.values } : {}),
    };
  }

  async put(item: Item, condition?: Condition): Promise<void> {
    try {
      await this.doc.send(new PutCommand({ TableName: this.table, Item: item, ...this.conditionParams(condition) }));
    } catch (err) {
      throw this.translate(err, item.pk, item.sk, 'put');
    }
  }

  async update(pk: string, sk: string, set: Record<string, Value>, condition: Condition): Promise<Item> {
    const c = this.conditionParams(condition);
    const names: Record<string, string> = { ...(c.ExpressionAttributeNames ?? {}) };
    const values: Record<string, Value> = { ...(c.ExpressionAttributeValues ?? {}) };
    const assignments = Object.entries(set).map(([field, value], i) => {
      names[`#s${i}`] = field;
      values[`:s${i}`] = value;
      return `#s${i} = :s${i}`;
    });
    try {
      const res = await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk, sk },
          UpdateExpression: `SET ${assignments.join(', ')}`,
          ...(c.ConditionExpression ? { ConditionExpression: c.ConditionExpression } : {}),
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return res.Attributes as Item;
    } catch (err) {
      throw this.translate(err, pk, sk, 'update');
    }
  }

  async delete(pk: string, sk: string, condition?: Condition): Promise<void> {
    try {
      await this.doc.send(new DeleteCommand({ TableName: this.table, Key: { pk, sk }, ...this.conditionParams(condition) }));
    } catch (err) {
      throw this.translate(err, pk, sk, 'delete');
    }
  }
}
