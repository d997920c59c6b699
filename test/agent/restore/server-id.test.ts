import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import mysql from 'mysql2/promise';
import type { BackupManifest } from '../../../agent/backup/manifest.js';
import { chunkKey } from '../../../agent/keys.js';
import type { ChunkInfo, RestorePlan } from '../../../agent/restore/plan.js';
import { replicaServerId } from '../../../agent/restore/restore.js';
import { withMariaDb } from '../../harness/mariadb.js';
import { backup, numbersIn, restoreForTest, SequenceWriter, startAgent } from '../../harness/pitr.js';
import { withLocalStack } from '../../harness/stack.js';
import { agentConfig, waitCaughtUp } from '../../harness/streaming.js';

function chunk(epoch: number, seq: number, serverIds: number[], gtid = ''): ChunkInfo {
  return {
    key: chunkKey('', 'c', { epoch, seq, file: 'b.000001', start: 4 + seq * 10, end: 14 + seq * 10 }),
    epoch, seq, file: 'b.000001', start: 4 + seq * 10, end: 14 + seq * 10, sizeBytes: 10, sha256: '',
    firstGtid: gtid, lastGtid: gtid, gtidPos: gtid, serverIds, firstTs: 0, lastTs: 0, encoding: 'none',
  };
}

function plan(chunks: ChunkInfo[], backupServerId = 1): RestorePlan {
  const manifest = { server: { serverId: backupServerId, version: '10.11', datadir: '/d' }, binlog: { file: 'b.000001', pos: 4, gtid: '0-1-5' } } as BackupManifest;
  return { target: { kind: 'latest' }, backup: manifest, from: { epoch: 1, file: 'b.000001', pos: 4 }, header: undefined, chunks, stop: { kind: 'end' }, targetGtid: '0-1-9', targetExact: true, durable: null, bytes: { backup: 0, chunks: 0 } };
}

describe("a restored replica's server_id", () => {
  it('avoids every server_id that wrote a planned chunk, in every epoch, not only the first and last GTIDs', () => {
    const usual = replicaServerId(plan([chunk(1, 1, [1])]));
    // GIVEN chunks of two epochs whose events were written by the id the restore would otherwise take
    const clash = plan([chunk(1, 1, [1, usual], '0-1-7'), chunk(2, 1, [2, usual + 1], '0-2-8')]);
    const id = replicaServerId(clash);
    for (const c of clash.chunks) for (const taken of c.serverIds) assert.notEqual(id, taken);
  });

  it('avoids the server ids of a chunk written without server-ids metadata, from its GTIDs and position', () => {
    const usual = replicaServerId(plan([chunk(1, 1, [1])]));
    const old = chunk(1, 1, [], `0-${usual}-7`);
    old.gtidPos = `0-${usual}-7,5-${usual + 1}-3`;
    const id = replicaServerId(plan([old]));
    assert.ok(id !== usual && id !== usual + 1, `took ${id}`);
  });

  it('replays, through the fake primary, transactions written by the server_id the restore would otherwise take', async (t) => {
    const server = await withMariaDb(t);
    const stack = await withLocalStack(t);
    const config = agentConfig(server, stack, 'pitr-server-id');
    const writer = await SequenceWriter.open(t, server);
    const agent = startAgent(t, config);
    await writer.write(10);
    await waitCaughtUp(server, agent.repo);
    const manifest = await backup(config, agent.repo);
    // GIVEN transactions after the backup committed under the server_id a restore of this backup
    // picks when it reads only the backup and the target (as a `latest` restore did)
    const usual = replicaServerId(plan([chunk(1, 1, [manifest.server.serverId])], manifest.server.serverId));
    const conn = await mysql.createConnection({ socketPath: server.socket, user: 'root', password: server.rootPassword });
    t.after(() => conn.end().catch(() => undefined));
    await conn.query(`SET SESSION server_id = ${usual}`);
    for (let n = 1001; n <= 1005; n++) await conn.query('INSERT INTO app.seq (n) VALUES (?)', [n]);
    await writer.write(5);
    await waitCaughtUp(server, agent.repo);
    await agent.stop();

    // WHEN restoring to latest through the fake primary
    const result = await restoreForTest(t, config, { kind: 'latest' });

    // THEN the restored server took another id, and every transaction is there
    assert.notEqual(result.serverId, usual);
    const rows = await numbersIn(result.server!);
    assert.deepEqual(rows.filter((n) => n > 1000), [1001, 1002, 1003, 1004, 1005]);
    assert.equal(rows.filter((n) => n <= 1000).length, 15);
  });
});
