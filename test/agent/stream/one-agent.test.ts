import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { agentStateDir, objectStoreFor } from '../../../agent/cli/agent.js';
import { ClusterStateRepo } from '../../../agent/cluster/repo.js';
import { binlogPrefix, parseChunkKey } from '../../../agent/keys.js';
import type { ObjectStore } from '../../../agent/ports/object-store.js';
import { sleep } from '../../../agent/retry.js';
import { openStateStore } from '../../../agent/wiring.js';
import { AgentProcess } from '../../../agent/local/agent-process.js';
import { withMariaDb } from '../../harness/mariadb.js';
import { withLocalStack } from '../../harness/stack.js';
import { agentConfig, assertChunksRebuildBinlog, waitCaughtUp } from '../../harness/streaming.js';

async function keysOf(objects: ObjectStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of objects.list(prefix)) keys.push(o.key);
  return keys;
}

/** Every chunk the durable position promises (seq 1 to durableSeq of the epoch) is an object. */
async function assertChainStored(objects: ObjectStore, repo: ClusterStateRepo, prefix: string): Promise<number> {
  const state = (await repo.read())!;
  const keys = await keysOf(objects, prefix);
  const seqs = new Set(keys.map((k) => parseChunkKey(k)!.seq));
  for (let seq = 1; seq <= state.durableSeq; seq++) assert.ok(seqs.has(seq), `seq ${seq} is promised but not stored: ${keys.join(', ')}`);
  assert.ok(keys.includes(state.durable!.key), `the durable position names ${state.durable!.key}, which is not stored`);
  return state.durableSeq;
}

describe('one agent per server', () => {
  it('a second agent started on the same server while the first runs waits, deletes nothing, and takes over once the first is gone', async (t) => {
    // GIVEN an agent streaming with the default identity and state directory
    const server = await withMariaDb(t);
    const stack = await withLocalStack(t);
    const config = agentConfig(server, stack, `one-agent-${randomBytes(4).toString('hex')}`);
    t.after(() => rmSync(agentStateDir(config), { recursive: true, force: true }));
    const repo = new ClusterStateRepo(openStateStore(config), config.clusterId);
    const objects = objectStoreFor(config);
    const prefix = binlogPrefix('', config.clusterId, 1);
    const env = { ...stack.env, SQUIRREL_CLUSTER_ID: config.clusterId, SQUIRREL_MYSQL_URL: server.url, SQUIRREL_CHUNK_MAX_AGE_MS: '50', SQUIRREL_HEARTBEAT_INTERVAL_MS: '200', SQUIRREL_LEASE_MS: '3000' };
    const first = AgentProcess.start(env);
    t.after(() => first.kill9());
    await server.query('CREATE DATABASE app');
    await server.query('CREATE TABLE app.t (id INT PRIMARY KEY AUTO_INCREMENT, pad VARCHAR(200))');
    const write = async (n: number) => {
      for (let i = 0; i < n; i++) await server.query('INSERT INTO app.t (pad) VALUES (?)', [`row ${i} `.repeat(10)]);
    };
    await write(5);
    await waitCaughtUp(server, repo);
    const holder = (await repo.read())!.leaseHolder;

    // WHEN a second agent starts on the same server with the same configuration
    const second = AgentProcess.start(env);
    t.after(() => second.kill9());
    for (let i = 0; !/streams this server; waiting for it to stop/.test(second.log); i++) {
      assert.ok(i < 600, `the second agent did not say it waits: ${second.log}`);
      await sleep(50);
    }
    // THEN it says another agent streams this server, and waits
    assert.match(second.log, new RegExp(`another agent \\(pid ${first.child.pid}, since [^)]+\\) streams this server; waiting for it to stop \\(one agent per server\\)`));
    const before = await keysOf(objects, prefix);
    const seqBefore = (await repo.read())!.durableSeq;
    // AND the first streams on, and no chunk is deleted while both run
    for (let round = 0; round < 5; round++) {
      await write(10);
      await waitCaughtUp(server, repo);
      await sleep(300);
    }
    const during = await keysOf(objects, prefix);
    for (const key of before) assert.ok(during.includes(key), `${key} was deleted while two agents ran`);
    const seqDuring = await assertChainStored(objects, repo, prefix);
    assert.ok(seqDuring > seqBefore, `the durable position did not advance (${seqBefore} -> ${seqDuring})`);
    const state = (await repo.read())!;
    assert.equal(state.leaseHolder, holder);
    assert.equal(JSON.parse(readFileSync(join(agentStateDir(config), 'agent.lock'), 'utf8')).pid, first.child.pid);
    assert.equal(second.child.exitCode, null, `the second agent exited: ${second.log}`);
    assert.doesNotMatch(second.log, /removing a chunk/);

    // WHEN the first agent dies
    await first.kill9();
    // THEN the second takes over (its predecessor is known dead) and streams on without a gap
    for (let i = 0; !/the previous agent of this server is gone/.test(second.log); i++) {
      assert.ok(i < 600, `the second agent did not take over: ${second.log}`);
      await sleep(50);
    }
    await write(10);
    await waitCaughtUp(server, repo);
    const seqAfter = await assertChainStored(objects, repo, prefix);
    assert.ok(seqAfter > seqDuring, `the durable position did not advance after the takeover (${seqDuring} -> ${seqAfter})`);
    assert.equal(await second.stop(), 0, second.log);
    await assertChunksRebuildBinlog(t, server, config);
  });
});
