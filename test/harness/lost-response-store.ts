import { UnavailableError } from '../../agent/errors.js';
import type { Condition, Item, StateStore, Value } from '../../agent/ports/state-store.js';

/**
 * A StateStore whose writes land but lose their response, as when DynamoDB applies a write and
 * the connection drops before the answer arrives: each write is applied on the inner store, then
 * sent again unchanged, as the AWS SDK's retry does, and the caller gets the repeat's outcome.
 * For a conditional write that landed, that is ConditionFailedError. A first attempt that fails
 * its condition is answered, as DynamoDB answers it (a 400 the SDK does not retry).
 * With `afterLoss: 'unavailable'`, the SDK instead gives up: the caller gets UnavailableError.
 */
export class LostResponseStateStore implements StateStore {
  /** Responses lost so far. */
  lost = 0;
  /** Which writes lose their response (by default all). */
  loses: (op: 'put' | 'update' | 'delete', sk: string, fields: Record<string, Value>) => boolean = () => true;
  /** What the caller hears after a lost response: the repeat's answer, or the SDK giving up. */
  afterLoss: 'repeat' | 'unavailable' = 'repeat';

  constructor(private readonly inner: StateStore) {}

  get(pk: string, sk: string): Promise<Item | undefined> {
    return this.inner.get(pk, sk);
  }

  query(pk: string, skPrefix?: string): Promise<Item[]> {
    return this.inner.query(pk, skPrefix);
  }

  private async sentTwice<T>(lose: boolean, send: () => Promise<T>): Promise<T> {
    if (lose) {
      await send();
      this.lost++;
      if (this.afterLoss === 'unavailable') throw new UnavailableError('dynamodb', 'injected: response lost, retries exhausted');
    }
    return send();
  }

  put(item: Item, condition?: Condition): Promise<void> {
    return this.sentTwice(this.loses('put', item.sk, item), () => this.inner.put(item, condition));
  }

  update(pk: string, sk: string, set: Record<string, Value>, condition: Condition): Promise<Item> {
    return this.sentTwice(this.loses('update', sk, set), () => this.inner.update(pk, sk, set, condition));
  }

  delete(pk: string, sk: string, condition?: Condition): Promise<void> {
    return this.sentTwice(this.loses('delete', sk, {}), () => this.inner.delete(pk, sk, condition));
  }
}
