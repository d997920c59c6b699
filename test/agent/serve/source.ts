/**
 * A source for the fake primary's tests: a private MariaDB whose binlog (a multi-table workload
 * across several files) the streaming agent has put in the local S3 stand-in. Started once per
 * suite (`before`), stopped in `after`, even when a test fails.
 */
import { after, before } from 'node:test';
import { buildStreamer, objectStoreFor } from '../../../agent/cli/agent.js';
import { MariaDbServer } from '../../../agent/server/mariadb.js';
import { startLocalStack, type LocalStack } from '../../../agent/local/stack.js';
import { silentLogger } from '../../../agent/log.js';
import type { ObjectStore } from '../../../agent/ports/object-store.js';
import type { StateStore } from '../../../agent/ports/state-store.js';
import { ClusterStateRepo } from '../../../agent/cluster/repo.js';
import { openStateStore } from '../../../agent/wiring.js';
import { agentConfig, waitCaughtUp } from '../../harness/streaming.js';

export interface StreamedSource {
  server: MariaDbServer;
  stack: LocalStack;
  config: ReturnType<typeof agentConfig>;
  objects: ObjectStore;
  stateStore: StateStore;
  /** @@gtid_binlog_pos once the schema exists, before the workload. */
  gtidAfterSchema: string;
  /** @@gtid_binlog_pos at the end. */
  gtidAtEnd: string;
}

export const TABLES = ['accounts', 'orders', 'events'];

export const SCHEMA = [
  'CREATE DATABASE app',
  'CREATE TABLE app.accounts (id INT PRIMARY KEY, balance BIGINT NOT NULL, note VARCHAR(100))',
  'CREATE TABLE app.orders (id INT PRIMARY KEY AUTO_INCREMENT, account INT NOT NULL, amount INT NOT NULL, KEY (account))',
  'CREATE TABLE app.events (id BIGINT PRIMARY KEY AUTO_INCREMENT, kind VARCHAR(20), payload TEXT)',
];

/** Transactions over three tables: inserts, updates, deletes, a DDL, a binlog rotation. */
export async function runWorkload(server: MariaDbServer, rounds: number): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    await server.query(
      `BEGIN; INSERT INTO app.accounts VALUES (${i}, ${i * 10}, 'n${i}') ON DUPLICATE KEY UPDATE balance = balance + 1;` +
        ` INSERT INTO app.orders (account, amount) VALUES (${i % 17}, ${i}), (${(i * 7) % 17}, ${i * 3});` +
        ` UPDATE app.accounts SET balance = balance - 5 WHERE id = ${Math.floor(i / 2)}; COMMIT`,
    );
    await server.query(`INSERT INTO app.events (kind, payload) VALUES ('k${i % 5}', REPEAT('x', ${(i * 37) % 900}))`);
    if (i % 9 === 0) await server.query(`DELETE FROM app.orders WHERE account = ${i % 17} LIMIT 2`);
    if (i === Math.floor(rounds / 3)) await server.query('FLUSH BINARY LOGS');
    if (i === Math.floor(rounds / 2)) await server.query('ALTER TABLE app.events ADD COLUMN extra INT DEFAULT 7');
    if (i === Math.floor((2 * rounds) / 3)) await server.query('FLUSH BINARY LOGS');
  }
}

export async function gtidVariable(server: MariaDbServer, name: 'gtid_binlog_pos' | 'gtid_slave_pos' | 'gtid_current_pos'): Promise<string> {
  const rows = await server.query<{ pos: string }[]>(`SELECT @@${name} AS pos`);
  return rows[0]?.pos ?? '';
}

export async function checksums(server: MariaDbServer): Promise<Record<string, string>> {
  const rows = await server.query<{ Table: string; Checksum: string | number }[]>(`CHECKSUM TABLE ${TABLES.map((t) => `app.${t}`).join(', ')}`);
  return Object.fromEntries(rows.map((r) => [r.Table, String(r.Checksum)]));
}

/**
 * Registers before/after hooks; the returned function gives the source inside tests. `config`
 * overrides the agent's settings (e.g. a small `chunkMaxBytes`, so that how many chunks a file has
 * depends on its bytes, not on how fast the machine ran the workload against the chunk age).
 */
export function streamedSourceFixture(clusterId: string, rounds = 120, config: Partial<ReturnType<typeof agentConfig>> = {}): () => StreamedSource {
  let source: StreamedSource | undefined;
  let server: MariaDbServer | undefined;
  let stack: LocalStack | undefined;
  before(async () => {
    [server, stack] = await Promise.all([MariaDbServer.start({ serverId: 1 }), startLocalStack()]);
    // the server's own setup (root passwords) is not the application's history: start clean
    await server.query('RESET MASTER');
    const agent = { ...agentConfig(server, stack, clusterId), ...config };
    const { streamer, close } = buildStreamer(agent, silentLogger, 'oldest');
    const running = streamer.run();
    let reason: Awaited<typeof running>;
    const stateStore = openStateStore(agent);
    try {
      for (const sql of SCHEMA) await server.query(sql);
      const gtidAfterSchema = await gtidVariable(server, 'gtid_binlog_pos');
      await server.query('FLUSH BINARY LOGS');
      await runWorkload(server, rounds);
      const gtidAtEnd = await gtidVariable(server, 'gtid_binlog_pos');
      await waitCaughtUp(server, new ClusterStateRepo(stateStore, clusterId));
      source = { server, stack, config: agent, objects: objectStoreFor(agent), stateStore, gtidAfterSchema, gtidAtEnd };
    } finally {
      await streamer.stop();
      reason = await running;
      await close();
    }
    if (reason.kind === 'failed') throw reason.error;
  });
  after(async () => {
    await Promise.all([server?.stop(), stack?.stop()]);
  });
  return () => {
    if (!source) throw new Error('streamed source not ready');
    return source;
  };
}
