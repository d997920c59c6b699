import { sleep } from '../retry.js';
import type { ClusterStateRepo } from '../cluster/repo.js';
import type { LocalStack } from './stack.js';

/** Something that answers SQL: a MariaDbServer. */
interface Queryable {
  query<T>(sql: string): Promise<T>;
}

/** Where the server is writing now (SHOW MASTER STATUS). */
export async function serverEnd(server: Queryable): Promise<{ file: string; pos: number }> {
  const [s] = await server.query<{ File: string; Position: number }[]>('SHOW MASTER STATUS');
  if (!s) throw new Error('SHOW MASTER STATUS returned nothing: is binary logging on?');
  return { file: s.File, pos: Number(s.Position) };
}

/**
 * Waits until the durable position reaches `target`: a position, or where a server is writing
 * now. `check` runs on every poll and may throw to give up early (e.g. the agent process exited).
 */
export async function waitCaughtUp(
  repo: ClusterStateRepo,
  target: Queryable | { file: string; pos: number },
  opts: { timeoutMs?: number; check?: () => void } = {},
): Promise<void> {
  const end = 'query' in target ? await serverEnd(target) : target;
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  for (;;) {
    const d = (await repo.read())?.durable;
    if (d && (d.file > end.file || (d.file === end.file && d.end >= end.pos))) return;
    opts.check?.();
    if (Date.now() > deadline) throw new Error(`not caught up: durable ${JSON.stringify(d)}, server at ${end.file}:${end.pos}`);
    await sleep(20);
  }
}

/**
 * Agent configuration for a local stack and a server URL. Sets the stack's AWS_* credentials in
 * this process's environment (the local S3 accepts only its own).
 */
export function localAgentConfig(stack: LocalStack, mysqlUrl: string, clusterId: string) {
  for (const [k, v] of Object.entries(stack.env)) if (k.startsWith('AWS_')) process.env[k] = v;
  return {
    clusterId,
    mysqlUrl,
    bucket: stack.bucket,
    table: stack.table,
    region: stack.region,
    s3Endpoint: stack.s3.endpoint,
    dynamodbEndpoint: stack.dynamodb.endpoint,
    prefix: '',
  };
}
