import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { objectStoreFor } from '../../agent/cli/agent.js';
import { compareWithServer, rebuildFiles } from '../../agent/local/binlog-compare.js';
import type { MariaDbServer } from '../../agent/server/mariadb.js';
import type { LocalStack } from '../../agent/local/stack.js';
import { localAgentConfig, waitCaughtUp as waitUntilDurable } from '../../agent/local/catch-up.js';
import { ClusterStateRepo } from '../../agent/cluster/repo.js';
import { openStateStore } from '../../agent/wiring.js';

/** Agent configuration for tests: the local stack, small chunks, fast heartbeats. */
export function agentConfig(server: MariaDbServer, stack: LocalStack, clusterId: string) {
  return {
    ...localAgentConfig(stack, server.url, clusterId),
    chunkMaxAgeMs: 50,
    chunkMaxBytes: 64 * 1024,
    heartbeatIntervalMs: 200,
    // long enough that a DynamoDB Local stalled by a loaded machine does not make the agent fence
    // its own server (self-fencing is on); tests of expiry and self-fencing set their own
    leaseMs: 10_000,
    agentId: 'test-agent',
  };
}

/** Waits until the durable position reaches where the server is writing now. */
export async function waitCaughtUp(server: MariaDbServer, repo: ClusterStateRepo, timeoutMs = 30_000): Promise<void> {
  await waitUntilDurable(repo, server, { timeoutMs });
}

export async function assertChunksRebuildBinlog(t: TestContext, server: MariaDbServer, config: ReturnType<typeof agentConfig>): Promise<number> {
  const stateStore = openStateStore(config);
  const state = await new ClusterStateRepo(stateStore, config.clusterId).read();
  assert.ok(state?.durable, 'nothing durable');
  const { files, report } = await rebuildFiles(objectStoreFor(config), stateStore, '', state);
  assert.deepEqual(report.problems, []);
  const cmp = await compareWithServer(files, await server.binlogFiles());
  t.diagnostic(JSON.stringify(cmp));
  for (const c of cmp) assert.equal(c.firstDifference, -1, `${c.file} differs at byte ${c.firstDifference}`);
  // every file but the last is complete; the last reaches the durable end
  const names = [...files.keys()];
  for (const c of cmp.slice(0, -1)) assert.equal(c.rebuiltBytes, c.serverBytes, `${c.file} is incomplete`);
  const last = files.get(names[names.length - 1]!)!;
  assert.equal(last.offset + last.bytes.length, state.durable.end);
  return report.checked.chunks;
}

