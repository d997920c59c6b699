import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { parseZstdSummary } from '../../../agent/backup/base-backup.js';
import { objectStoreFor } from '../../../agent/cli/agent.js';
import { sha256Hex } from '../../../agent/store/bytes.js';
import { ToolProcess } from '../../../agent/tools/tool-process.js';
import { withMariaDb } from '../../harness/mariadb.js';
import { backup, SequenceWriter, startAgent } from '../../harness/pitr.js';
import { withLocalStack } from '../../harness/stack.js';
import { agentConfig, waitCaughtUp } from '../../harness/streaming.js';

async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const b of stream) parts.push(b as Buffer);
  return Buffer.concat(parts);
}

describe('physical base backup', () => {
  const summaries = [
    { line: '/*stdin*\\            : 36.24%   (1500000001 B =>  543598302 B, /*stdout*\\) ', bytes: 1_500_000_001 },
    { line: '/*stdin*\\            :  0.00%   (10000003 B =>    334 B, /*stdout*\\) ', bytes: 10_000_003 },
    { line: '/*stdin*\\            : 36.24%   (  1.40 GiB =>   49.6 KiB, /*stdout*\\) ', bytes: undefined },
    { line: 'Decompression will require 524288 B of memory', bytes: undefined },
  ];
  for (const { line, bytes } of summaries) {
    it(`reads ${bytes ?? 'no'} input bytes from zstd's line "${line.trim().slice(0, 40)}…"`, () => {
      assert.equal(parseZstdSummary(line), bytes);
    });
  }

  it('stores mariabackup\'s stream compressed, with the exact byte count zstd took in', async (t) => {
    const server = await withMariaDb(t);
    const stack = await withLocalStack(t);
    const config = agentConfig(server, stack, 'physical-pipe');
    const writer = await SequenceWriter.open(t, server);
    const agent = startAgent(t, config);
    await writer.write(20);
    await waitCaughtUp(server, agent.repo);
    const manifest = await backup(config, agent.repo, 'physical');
    assert.equal(manifest.object.format, 'mbstream');
    assert.equal(manifest.binlog.gtid, writer.gtidOf.get(20));

    const stored = await objectStoreFor(config).get(manifest.object.key);
    assert.ok(stored, `${manifest.object.key} is stored`);
    assert.equal(stored.body.length, manifest.object.sizeBytes);
    assert.equal(sha256Hex(stored.body), manifest.object.sha256);
    // the raw size in the manifest is what zstd took in: decompress and count
    const unzstd = ToolProcess.start('zstd', ['-d', '-c', '-q']);
    const [raw] = await Promise.all([collect(unzstd.stdout), new Promise<void>((resolve, reject) => unzstd.stdin.end(stored.body, () => resolve()).on('error', reject)), unzstd.done]);
    assert.equal(raw.length, manifest.object.rawSizeBytes);
    assert.ok(raw.length > 1024 * 1024, `an mbstream of a whole server is more than 1 MiB (got ${raw.length} bytes)`);
    // mbstream's chunk magic opens the stream
    assert.equal(raw.subarray(0, 8).toString('latin1'), 'XBSTCK01');
  });
});
