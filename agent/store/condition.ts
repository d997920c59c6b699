import type { Condition, Item, Value } from '../ports/state-store.js';

/**
 * Evaluates a state-store condition against the item as stored (undefined: no item), with
 * DynamoDB's semantics: a comparison against a missing field is false.
 */
export function conditionHolds(item: Item | undefined, cond: Condition): boolean {
  if ('and' in cond) return cond.and.every((c) => conditionHolds(item, c));
  if ('or' in cond) return cond.or.some((c) => conditionHolds(item, c));
  if ('exists' in cond) return cond.exists === (item !== undefined);
  const value: Value | undefined = item?.[cond.field];
  if ('absent' in cond) return value === undefined;
  if (value === undefined) return false;
  if ('eq' in cond) return value === cond.eq;
  return (typeof value === 'number' || typeof value === 'string') && typeof value === typeof cond.lt && value < cond.lt;
}

/** Renders a condition as a DynamoDB ConditionExpression with expression attribute names and values. */
export function renderCondition(cond: Condition): { expression: string; names: Record<string, string>; values: Record<string, Value> } {
  const names: Record<string, string> = {};
  const values: Record<string, Value> = {};
  let n = 0;
  const name = (field: string): string => {
    const key = `#c${n++}`;
    names[key] = field;
    return key;
  };
  const value = (v: Value): string => {
    const key = `:c${n++}`;
    values[key] = v;
    return key;
  };
  const render = (c: Condition): string => {
    if ('and' in c) return c.and.length === 0 ? 'attribute_exists(pk) OR attribute_not_exists(pk)' : c.and.map((x) => `(${render(x)})`).join(' AND ');
    if ('or' in c) return c.or.map((x) => `(${render(x)})`).join(' OR ');
    if ('exists' in c) return c.exists ? 'attribute_exists(pk)' : 'attribute_not_exists(pk)';
    if ('absent' in c) return `attribute_not_exists(${name(c.field)})`;
    if ('eq' in c) return `${name(c.field)} = ${value(c.eq)}`;
    return `${name(c.field)} < ${value(c.lt)}`;
  };
  return { expression: render(cond), names, values };
}
