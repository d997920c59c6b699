import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConditionFailedError, FencedError, LeaseHeldError, NotPrimaryError, PositionConflictError, TimelinePendingError, TimelineStartedError } from '../../../agent/errors.js';
import { clusterPk, stateSk } from '../../../agent/keys.js';
import { MemoryStateStore } from '../../../agent/store/memory-state-store.js';
import { ClusterStateRepo, type DurablePosition } from '../../../agent/cluster/repo.js';

const start = { file: 'mariadb-bin.000001', pos: 4, gtid: '' };
const pos = (seq: number, end: number): DurablePosition => ({
  epoch: 1,
  seq,
  file: 'mariadb-bin.000001',
  end,
  gtid: `0-1-${seq}`,
  key: `k${seq}`,
  at: '2026-01-01T00:00:00.000Z',
});

describe('cluster state', () => {
  it('claims epoch 1 once', async () => {
    const repo = new ClusterStateRepo(new MemoryStateStore(), 'c1');
    const s = await repo.claimFirstEpoch(start, 'a', 1000, 100);
    assert.equal(s.epoch, 1);
    assert.equal(s.durable, null);
    await assert.rejects(repo.claimFirstEpoch(start, 'b', 1000, 100), ConditionFailedError);
  });

  it('gives the lease back to the same holder at once and to another only after expiry', async () => {
    const repo = new ClusterStateRepo(new MemoryStateStore(), 'c1');
    await repo.claimFirstEpoch(start, 'a', 1000, 100);
    await repo.acquireLease(1, 'a', 1010, 100); // restart of the same agent
    await assert.rejects(repo.acquireLease(1, 'b', 1050, 100), (e: unknown) => e instanceof LeaseHeldError && e.holder === 'a' && e.expiresAt === 1110);
    const s = await repo.acquireLease(1, 'b', 1111, 100);
    assert.equal(s.leaseHolder, 'b');
  });

  it('lets the next agent in at once after a graceful release', async () => {
    const repo = new ClusterStateRepo(new MemoryStateStore(), 'c1');
    await repo.claimFirstEpoch(start, 'a', 1000, 100);
    await repo.releaseLease(1, 'a');
    assert.equal((await repo.acquireLease(1, 'b', 1001, 100)).leaseHolder, 'b');
  });

  it('advances the durable position one chunk at a time, never back', async () => {
    const repo = new ClusterStateRepo(new MemoryStateStore(), 'c1');
    await repo.claimFirstEpoch(start, 'a', 1000, 100);
    await repo.advance('a', pos(1, 100));
    await repo.advance('a', pos(2, 200));
    await assert.rejects(repo.advance('a', pos(2, 250)), PositionConflictError); // replayed write
    await assert.rejects(repo.advance('a', pos(1, 100)), PositionConflictError); // backwards
    await assert.rejects(repo.advance('a', pos(4, 400)), PositionConflictError); // skips seq 3
    const s = await repo.read();
    assert.equal(s?.durableSeq, 2);
    assert.equal(s?.durable?.end, 200);
  });

  it('refuses every write from a fenced agent', async () => {
    const store = new MemoryStateStore();
    const repo = new ClusterStateRepo(store, 'c1');
    await repo.claimFirstEpoch(start, 'a', 1000, 100);
    await repo.advance('a', pos(1, 100));
    // the control plane claims epoch 2
    await store.update(clusterPk('c1'), stateSk, { epoch: 2, durableSeq: 0, leaseHolder: 'new' }, { field: 'epoch', eq: 1 });
    await assert.rejects(repo.advance('a', pos(2, 200)), (e: unknown) => e instanceof FencedError && e.currentEpoch === 2 && e.ownEpoch === 1);
    await assert.rejects(repo.heartbeat(1, 'a', 1100, 100, { server: null }), FencedError);
    await assert.rejects(repo.acquireLease(1, 'a', 1200, 100), FencedError);
    assert.equal((await repo.read())?.durable?.seq, 1);
  });

  it('refuses a position write from an agent that lost the lease', async () => {
    const repo = new ClusterStateRepo(new MemoryStateStore(), 'c1');
    await repo.claimFirstEpoch(start, 'a', 1000, 100);
    await repo.acquireLease(1, 'b', 2000, 100);
    await assert.rejects(repo.advance('a', pos(1, 100)), LeaseHeldError);
    await assert.rejects(repo.heartbeat(1, 'a', 2001, 100, { server: null }), LeaseHeldError);
  });

  it('claims the next epoch once, fencing the old one, and keeps the durable position', async () => {
    const store = new MemoryStateStore();
    const repo = new ClusterStateRepo(store, 'c1');
    await repo.claimFirstEpoch(start, 'a', 1000, 100);
    await repo.advance('a', pos(1, 100));
    const next = { file: 'other-bin.000001', pos: 4, gtid: '0-1-1' };
    const s = await repo.claimNextEpoch(1, next, 2000, { leaseMarginMs: 0 });
    assert.deepEqual([s.epoch, s.durableSeq, s.durable?.seq, s.start.file, s.leaseHolder], [2, 0, 1, 'other-bin.000001', '']);
    await assert.rejects(repo.claimNextEpoch(1, next, 2001, { leaseMarginMs: 0 }), ConditionFailedError);
    await assert.rejects(repo.advance('a', pos(2, 200)), FencedError);
    assert.deepEqual((await store.get(clusterPk('c1'), 'epoch#000002'))?.start, next);
  });

  it('records the handover (epoch 1\'s durable position at the claim) in the claim\'s write and in epoch 1\'s history item', async () => {
    const store = new MemoryStateStore();
    const repo = new ClusterStateRepo(store, 'c1');
    await repo.claimFirstEpoch(start, 'a', 1000, 100);
    await repo.advance('a', pos(1, 100));
    await repo.advance('a', pos(2, 200));
    const s = await repo.claimNextEpoch(1, { file: 'other-bin.000001', pos: 4, gtid: '0-1-2' }, 2000, { leaseMarginMs: 0 });
    assert.deepEqual(s.handovers, [{ epoch: 1, durable: pos(2, 200), at: new Date(2000).toISOString() }]);
    assert.deepEqual((await store.get(clusterPk('c1'), 'epoch#000001'))?.handover, s.handovers![0]);
    assert.deepEqual((await store.get(clusterPk('c1'), 'epoch#000001'))?.start, start);
  });

  it('records an empty handover for an epoch that made nothing durable', async () => {
    const repo = new ClusterStateRepo(new MemoryStateStore(), 'c1');
    await repo.claimFirstEpoch(start, 'a', 1000, 100);
    await repo.advance('a', pos(1, 100));
    await repo.claimNextEpoch(1, start, 2000, { leaseMarginMs: 0 });
    const s = await repo.claimNextEpoch(2, start, 3000, { leaseMarginMs: 0 });
    assert.deepEqual(s.handovers?.map((h) => [h.epoch, h.durable?.seq ?? null]), [[2, null]]);
    const h = await repo.readHistory();
    assert.deepEqual(h!.state.handovers?.map((x) => [x.epoch, x.durable?.seq ?? null]), [[1, 1], [2, null]]);
  });

  it('keeps a handover that a crash left only in the state item: the next claim copies it to its history item first', async () => {
    const store = new MemoryStateStore();
    const repo = new ClusterStateRepo(store, 'c1');
    await repo.claimFirstEpoch(start, 'a', 1000, 100);
    await repo.advance('a', pos(1, 100));
    await repo.claimNextEpoch(1, start, 2000, { leaseMarginMs: 0 });
    // the claimer crashed between the state write and the history write
    const h1 = await store.get(clusterPk('c1'), 'epoch#000001');
    await store.put({ ...h1!, handover: null });
    assert.deepEqual((await repo.readHistory())!.state.handovers?.map((x) => x.epoch), [1]); // read from the state item
    await repo.claimNextEpoch(2, start, 3000, { leaseMarginMs: 0 });
    const h = await repo.readHistory();
    assert.deepEqual(h!.state.handovers?.map((x) => [x.epoch, x.durable?.seq ?? null]), [[1, 1], [2, null]]);
  });

  it('records the position an advance reached between the claim\'s read and its write', async () => {
    const store = new MemoryStateStore();
    const repo = new ClusterStateRepo(store, 'c1');
    await repo.claimFirstEpoch(start, 'a', 1000, 100);
    await repo.advance('a', pos(1, 100));
    // GIVEN the old agent's advance lands right after the claimer read the state item
    const racing: typeof store = Object.create(store);
    let raced = false;
    racing.update = async (...args) => {
      if (!raced && args[2].epoch === 2) {
        raced = true;
        await repo.advance('a', pos(2, 200));
      }
      return store.update(...args);
    };
    const s = await new ClusterStateRepo(racing, 'c1').claimNextEpoch(1, start, 2000, { leaseMarginMs: 0 });
    assert.equal(s.handovers?.[0]?.durable?.seq, 2);
  });

  describe('an epoch claimed before its primary was promoted', () => {
    const b = { instanceId: 'i-b', host: '10.0.0.2', port: 3306 };
    const bStart = { file: 'b-bin.000002', pos: 4, gtid: '0-1-2' };
    async function pending() {
      const store = new MemoryStateStore();
      const repo = new ClusterStateRepo(store, 'c1');
      await repo.claimFirstEpoch(start, 'a', 1000, 100);
      await repo.advance('a', pos(1, 100));
      await repo.advance('a', pos(2, 200));
      const claimed = await repo.claimNextEpoch(1, undefined, 2000, { leaseMarginMs: 0, primary: b });
      return { store, repo, claimed };
    }

    it('is claimed pending, with a placeholder start at the durable GTID position, in the state item and its history item', async () => {
      const { store, repo, claimed } = await pending();
      assert.deepEqual([claimed.epoch, claimed.startPending, claimed.start, claimed.handovers?.[0]?.durable?.seq], [2, true, { file: '', pos: 0, gtid: '0-1-2' }, 2]);
      const h = await store.get(clusterPk('c1'), 'epoch#000002');
      assert.deepEqual([h?.start, h?.startPending], [{ file: '', pos: 0, gtid: '0-1-2' }, true]);
      assert.deepEqual((await repo.readHistory())!.starts.get(2), { file: '', pos: 0, gtid: '0-1-2' });
    });

    it('is not taken by its primary\'s agent until its start is recorded', async () => {
      const { repo } = await pending();
      await assert.rejects(repo.acquireLease(2, 'agent-b', 3000, 100, { primary: b }), (e: unknown) => e instanceof TimelinePendingError && e.retryable && e.epoch === 2);
      await repo.beginTimeline(2, b, bStart, 3000);
      assert.equal((await repo.acquireLease(2, 'agent-b', 3001, 100, { primary: b })).leaseHolder, 'agent-b');
    });

    it('records the start promote gives, in the state item and the history item, and takes its own repeat for success', async () => {
      const { store, repo } = await pending();
      const s = await repo.beginTimeline(2, { ...b, host: '127.0.0.1' }, bStart, 3000);
      assert.deepEqual([s.startPending, s.start], [undefined, bStart]);
      const h = await store.get(clusterPk('c1'), 'epoch#000002');
      assert.deepEqual([h?.start, h?.startPending], [bStart, false]);
      // a repeat (the response of the first was lost, or promote ran again with the same start)
      assert.deepEqual((await repo.beginTimeline(2, b, bStart, 3001)).start, bStart);
      // another start is another promotion: refused
      await assert.rejects(repo.beginTimeline(2, b, { ...bStart, file: 'b-bin.000003' }, 3002), (e: unknown) => e instanceof TimelineStartedError && e.start.file === 'b-bin.000002');
      assert.deepEqual((await repo.readHistory())!.starts.get(2), bStart);
    });

    it('refuses the start from another server than the claim named, and from a fenced epoch', async () => {
      const { repo } = await pending();
      await assert.rejects(repo.beginTimeline(2, { host: '10.0.0.3', port: 3306 }, bStart, 3000), (e: unknown) => e instanceof NotPrimaryError && /i-b/.test(e.message) && /10\.0\.0\.3/.test(e.message));
      await repo.claimNextEpoch(2, undefined, 4000, { leaseMarginMs: 0, primary: { host: '10.0.0.3', port: 3306 } });
      await assert.rejects(repo.beginTimeline(2, b, bStart, 4001), FencedError);
      assert.equal((await repo.read())?.startPending, true);
    });
  });
});
