import { ConditionFailedError } from '../errors.js';
import type { Condition, Item, StateStore, Value } from '../ports/state-store.js';
import { conditionHolds } from './condition.js';

/** An in-process StateStore with the same conditional semantics as DynamoDB. */
export class MemoryStateStore implements StateStore {
  private readonly items = new Map<string, Item>();

  private static id(pk: string, sk: string): string {
    return `${pk}\u0000${sk}`;
  }

  async get(pk: string, sk: string): Promise<Item | undefined> {
    const item = this.items.get(MemoryStateStore.id(pk, sk));
    return item === undefined ? undefined : structuredClone(item);
  }

  async query(pk: string, skPrefix = ''): Promise<Item[]> {
    return [...this.items.values()]
      .filter((i) => i.pk === pk && i.sk.startsWith(skPrefix))
      .sort((a, b) => (a.sk < b.sk ? -1 : a.sk > b.sk ? 1 : 0))
      .map((i) => structuredClone(i));
  }

  private check(pk: string, sk: string, condition: Condition | undefined): Item | undefined {
    const current = this.items.get(MemoryStateStore.id(pk, sk));
    if (condition && !conditionHolds(current, condition)) {
      throw new ConditionFailedError(`${pk}/${sk}`, 'conditional write failed');
    }
    return current;
  }

  async put(item: Item, condition?: Condition): Promise<void> {
    this.check(item.pk, item.sk, condition);
    this.items.set(MemoryStateStore.id(item.pk, item.sk), structuredClone(item));
  }

  async update(pk: string, sk: string, set: Record<string, Value>, condition: Condition): Promise<Item> {
    const current = this.check(pk, sk, condition);
    const next = { ...(current ?? { pk, sk }), ...structuredClone(set), pk, sk } as Item;
    this.items.set(MemoryStateStore.id(pk, sk), next);
    return structuredClone(next);
  }

  async delete(pk: string, sk: string, condition?: Condition): Promise<void> {
    this.check(pk, sk, condition);
    this.items.delete(MemoryStateStore.id(pk, sk));
  }
}
