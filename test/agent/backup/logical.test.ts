import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withMariaDb } from '../../harness/mariadb.js';
import { backup, numbersIn, range, restoreForTest, SequenceWriter, startAgent } from '../../harness/pitr.js';
import { withLocalStack } from '../../harness/stack.js';
import { agentConfig, waitCaughtUp } from '../../harness/streaming.js';

describe('logical base backup', () => {
  it('dumps with its consistency point, and restores to latest on a fresh server', async (t) => {
    const server = await withMariaDb(t);
    const stack = await withLocalStack(t);
    const config = agentConfig(server, stack, 'logical');
    const writer = await SequenceWriter.open(t, server);
    const agent = startAgent(t, config);
    await writer.write(40);
    await waitCaughtUp(server, agent.repo);
    const manifest = await backup(config, agent.repo, 'logical');
    assert.equal(manifest.kind, 'logical');
    assert.equal(manifest.object.format, 'sql');
    assert.equal(manifest.binlog.gtid, writer.gtidOf.get(40));
    await writer.write(40);
    await waitCaughtUp(server, agent.repo);
    await agent.stop();

    const result = await restoreForTest(t, config, { kind: 'latest' });
    assert.equal(result.backupId, manifest.id);
    assert.equal(result.transactions, 40);
    assert.deepEqual(await numbersIn(result.server!), range(1, 80));
  });
});
