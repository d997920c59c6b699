import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { objectStoreFor } from '../../../agent/cli/agent.js';
import { silentLogger } from '../../../agent/log.js';
import { promote } from '../../../agent/restore/promote.js';
import { parseTarget } from '../../../agent/restore/target.js';
import { replayViaFakePrimary } from '../../../agent/serve/replay.js';
import { openStateStore } from '../../../agent/wiring.js';
import { withMariaDb } from '../../harness/mariadb.js';
import { backup, numbersIn, range, restoreForTest, SequenceWriter, startAgent } from '../../harness/pitr.js';
import { withLocalStack } from '../../harness/stack.js';
import { agentConfig, waitCaughtUp } from '../../harness/streaming.js';

describe('across an epoch boundary', () => {
  it('the fake primary serves epoch 1 then epoch 2, and restore joins them', async (t) => {
    // GIVEN epoch 1 streamed from primary A, with a base backup in the middle
    const a = await withMariaDb(t);
    const stack = await withLocalStack(t);
    const config = agentConfig(a, stack, 'epochs');
    // the harness's own account set-up on A; a fresh server C has done the same to itself
    const [setup] = await a.query<{ g: string }[]>('SELECT @@gtid_binlog_pos AS g');
    const writerA = await SequenceWriter.open(t, a);
    const agentA = startAgent(t, config);
    await writerA.write(30);
    await waitCaughtUp(a, agentA.repo);
    await backup(config, agentA.repo);
    await writerA.write(30);
    await waitCaughtUp(a, agentA.repo);
    await agentA.stop();

    // AND a replacement B restored to latest and promoted, which claims epoch 2 on a fresh binlog file
    const b = (await restoreForTest(t, config, parseTarget('latest'))).server!;
    await promote(b.url, { force: true }); // the epoch is claimed after, by hand (promote-checks.test.ts covers claim, restore, promote)
    await b.query('FLUSH BINARY LOGS');
    const [status] = await b.query<{ File: string }[]>('SHOW MASTER STATUS');
    const [bGtid] = await b.query<{ g: string }[]>('SELECT @@gtid_binlog_pos AS g');
    await agentA.repo.claimNextEpoch(1, { file: status!.File, pos: 4, gtid: bGtid!.g }, Date.now(), { force: true });
    const configB = { ...config, mysqlUrl: b.url };
    const agentB = startAgent(t, configB);
    for (let n = 61; n <= 90; n++) await b.query('INSERT INTO app.seq (n, pad, at) VALUES (?, ?, ?)', [n, `row ${n} `, Date.now()]);
    await waitCaughtUp(b, agentB.repo);
    await agentB.stop();
    const state = (await agentA.repo.read())!;
    assert.equal(state.epoch, 2);
    assert.equal(state.durable?.epoch, 2);
    const [end] = await b.query<{ g: string }[]>('SELECT @@gtid_binlog_pos AS g');

    // WHEN a fresh server replays everything after the set-up through the fake primary
    const c = await withMariaDb(t, { serverId: 7 });
    await c.query('RESET MASTER'); // its own setup GTIDs are not the cluster's
    await replayViaFakePrimary({
      server: c,
      serverName: 'server C',
      primary: { objects: objectStoreFor(config), stateStore: openStateStore(config), prefix: '', clusterId: config.clusterId },
      target: end!.g,
      startGtid: setup!.g,
      log: silentLogger,
    });
    // THEN it holds what A wrote in epoch 1 and B in epoch 2
    assert.deepEqual(await numbersIn(c), range(1, 90));
    const [sumB] = await b.query<{ Checksum: number }[]>('CHECKSUM TABLE app.seq');
    const [sumC] = await c.query<{ Checksum: number }[]>('CHECKSUM TABLE app.seq');
    assert.equal(sumC!.Checksum, sumB!.Checksum);

    // AND a restore to latest joins epoch 1's chunks after the backup with epoch 2's
    const restored = (await restoreForTest(t, config, parseTarget('latest'))).server!;
    assert.deepEqual(await numbersIn(restored), range(1, 90));
  });
});
