/**
 * State writes whose first attempt landed but whose response was lost, so that their repeat (the
 * AWS SDK's retry) fails its own condition. Run against the memory store and DynamoDB Local
 * through a wrapper that applies each write and sends it again, and against DynamoDB Local behind
 * a proxy that drops responses, where the real SDK does the re-sending.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ConditionFailedError, LeaseHeldError, PositionConflictError } from '../../../agent/errors.js';
import { clusterPk, epochSk } from '../../../agent/keys.js';
import { dynamoClientFor, startDynamoDbLocal, type DynamoDbLocal } from '../../../agent/local/dynamodb.js';
import { createTable } from '../../../agent/local/stack.js';
import type { StateStore } from '../../../agent/ports/state-store.js';
import { DynamoStateStore } from '../../../agent/store/dynamo-state-store.js';
import { MemoryStateStore } from '../../../agent/store/memory-state-store.js';
import { ClusterStateRepo, type DurablePosition } from '../../../agent/cluster/repo.js';
import { startLosingProxy, type LosingProxy } from '../../harness/losing-proxy.js';
import { LostResponseStateStore } from '../../harness/lost-response-store.js';

const start = { file: 'mariadb-bin.000001', pos: 4, gtid: '' };
const next = { file: 'other-bin.000001', pos: 4, gtid: '0-1-1' };
const pos = (seq: number, epoch = 1): DurablePosition => ({
  epoch,
  seq,
  file: 'mariadb-bin.000001',
  end: seq * 100,
  gtid: `0-1-${seq}`,
  key: `k${epoch}-${seq}`,
  at: '2026-01-01T00:00:00.000Z',
});

/** One store seen two ways: directly, and through a path on which every write loses its response. */
interface Fixture {
  store: StateStore;
  lossy: StateStore;
  lost(): number;
}

function lostResponseSuite(name: string, open: () => Fixture): void {
  describe(`a state write whose response was lost (${name})`, () => {
    const cluster = () => `c-${randomUUID()}`;

    it('advance goes on when the write that landed was its own', async () => {
      const fx = open();
      const id = cluster();
      const claimer = new ClusterStateRepo(fx.store, id);
      await claimer.claimFirstEpoch(start, 'a', Date.now(), 60_000);
      const repo = new ClusterStateRepo(fx.lossy, id, claimer.token); // the same process, through the lossy store
      const lostBefore = fx.lost();
      await repo.advance('a', pos(1));
      await repo.advance('a', pos(2));
      assert.equal(fx.lost() - lostBefore, 2);
      const s = await repo.read();
      assert.deepEqual([s?.durableSeq, s?.durable?.key, s?.durableBy], [2, 'k1-2', { holder: 'a', token: repo.token }]);
    });

    it('advance of a zombie fails when its restart (the same holder, another process) holds the lease and wrote that position', async () => {
      const fx = open();
      const id = cluster();
      // a zombie and its restart: the same holder, two processes, two tokens
      const zombie = new ClusterStateRepo(fx.lossy, id);
      const restarted = new ClusterStateRepo(fx.store, id);
      await restarted.claimFirstEpoch(start, 'a', Date.now(), 60_000);
      await restarted.advance('a', pos(1));
      await assert.rejects(zombie.advance('a', pos(1)), (e: unknown) => e instanceof LeaseHeldError);
      assert.equal((await zombie.read())?.durableBy?.token, restarted.token);
    });

    it('advance still fails with PositionConflictError when another holder wrote that position', async () => {
      const fx = open();
      const id = cluster();
      const a = new ClusterStateRepo(fx.lossy, id);
      const b = new ClusterStateRepo(fx.store, id);
      await b.claimFirstEpoch(start, 'a', 1000, 100); // for a
      await b.acquireLease(1, 'b', 2000, 100); // a's lease expired
      await b.advance('b', pos(1));
      await a.acquireLease(1, 'a', 3000, 100); // and b's
      await assert.rejects(a.advance('a', pos(1)), (e: unknown) => e instanceof PositionConflictError && e.foundSeq === 1);
    });

    it('claimFirstEpoch and claimNextEpoch go on when the claim that landed was their own, and write the history items', async () => {
      const fx = open();
      const id = cluster();
      const repo = new ClusterStateRepo(fx.lossy, id);
      const lostBefore = fx.lost();
      assert.equal((await repo.claimFirstEpoch(start, 'a', 1000, 60_000)).epoch, 1);
      await repo.advance('a', pos(1));
      const s = await repo.claimNextEpoch(1, next, 2000, { force: true });
      assert.deepEqual([s.epoch, s.durableSeq, s.durable?.seq, s.start], [2, 0, 1, next]);
      assert.ok(fx.lost() - lostBefore >= 3, `lost ${fx.lost() - lostBefore} responses`);
      assert.deepEqual((await fx.store.get(clusterPk(id), epochSk(1)))?.start, start);
      assert.deepEqual((await fx.store.get(clusterPk(id), epochSk(2)))?.start, next);
    });

    it('a pending claimNextEpoch and beginTimeline go on when the write that landed was their own', async () => {
      const fx = open();
      const id = cluster();
      const b = { host: '127.0.0.1', port: 3307 };
      await new ClusterStateRepo(fx.store, id).claimFirstEpoch(start, 'a', 1000, 60_000);
      const repo = new ClusterStateRepo(fx.lossy, id);
      const lostBefore = fx.lost();
      assert.equal((await repo.claimNextEpoch(1, undefined, 2000, { force: true, primary: b })).startPending, true);
      const s = await repo.beginTimeline(2, b, next, 3000);
      assert.deepEqual([s.epoch, s.startPending, s.start], [2, undefined, next]);
      assert.ok(fx.lost() - lostBefore >= 2, `lost ${fx.lost() - lostBefore} responses`);
      assert.deepEqual((await fx.store.get(clusterPk(id), epochSk(2)))?.start, next);
    });

    it('claimNextEpoch still fails when another claimer took the same epoch from the same start', async () => {
      const fx = open();
      const id = cluster();
      const other = new ClusterStateRepo(fx.store, id);
      await other.claimFirstEpoch(start, 'a', 1000, 60_000);
      await other.claimNextEpoch(1, next, 2000, { force: true });
      await assert.rejects(new ClusterStateRepo(fx.lossy, id).claimNextEpoch(1, next, 2001, { force: true }), ConditionFailedError);
    });

    it('lease and heartbeat writes are idempotent: their repeat passes', async () => {
      const fx = open();
      const id = cluster();
      await new ClusterStateRepo(fx.store, id).claimFirstEpoch(start, 'a', 1000, 100);
      const repo = new ClusterStateRepo(fx.lossy, id);
      const lostBefore = fx.lost();
      await repo.acquireLease(1, 'b', 2000, 100);
      assert.equal((await repo.heartbeat(1, 'b', 2050, 100, { server: null })).leaseExpiresAt, 2150);
      await repo.releaseLease(1, 'b');
      assert.equal(fx.lost() - lostBefore, 3);
      assert.equal((await repo.read())?.leaseHolder, '');
    });
  });
}

function withLostResponses(store: StateStore): Fixture {
  const lossy = new LostResponseStateStore(store);
  return { store, lossy, lost: () => lossy.lost };
}

const memory = new MemoryStateStore();
lostResponseSuite('memory', () => withLostResponses(memory));

let ddb: DynamoDbLocal | undefined;
let proxy: LosingProxy | undefined;
const clients: DynamoDBClient[] = [];
let direct: StateStore;
let throughProxy: StateStore;

before(async () => {
  ddb = await startDynamoDbLocal({ inMemory: true });
  const client = dynamoClientFor(ddb.endpoint);
  clients.push(client);
  await createTable(client, 'squirrel');
  direct = new DynamoStateStore(client, 'squirrel');
  // every write's first attempt lands and loses its response; the SDK's retry is answered
  proxy = await startLosingProxy(ddb.endpoint, (r) => r.attempt === 1 && ['PutItem', 'UpdateItem', 'DeleteItem'].includes(r.operation));
  const viaProxy = dynamoClientFor(proxy.endpoint);
  clients.push(viaProxy);
  throughProxy = new DynamoStateStore(viaProxy, 'squirrel');
});

after(async () => {
  for (const c of clients) c.destroy();
  await proxy?.stop();
  await ddb?.stop();
});

lostResponseSuite('DynamoDB Local', () => withLostResponses(direct));
lostResponseSuite("DynamoDB Local, the SDK's own retry after a dropped response", () => ({ store: direct, lossy: throughProxy, lost: () => proxy!.lost }));
