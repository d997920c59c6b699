/**
 * `Promise.withResolvers` (Node 22) for Node 20: aws-local-stepfunctions 3 calls it. Imported
 * before that package by the one module that loads it (local-workflows.ts).
 */
interface WithResolvers {
  withResolvers?<T>(): { promise: Promise<T>; resolve: (v: T | PromiseLike<T>) => void; reject: (e: unknown) => void };
}

const P = Promise as unknown as WithResolvers;
P.withResolvers ??= <T>() => {
  let resolve!: (v: T | PromiseLike<T>) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
};

export {};
