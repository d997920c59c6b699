import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GiB, MiB, parseSize, replayParallelism, sizeReplayServer } from '../../../agent/restore/server-sizing.js';

describe('replay server sizing', () => {
  const cases: { name: string; memoryGiB: number; dataMiB: number; binlogMiB: number; pool: number; log: number }[] = [
    { name: 'a tiny backup gets InnoDB\'s default pool and the smallest redo log', memoryGiB: 16, dataMiB: 30, binlogMiB: 1, pool: 128 * MiB, log: 256 * MiB },
    { name: 'the pool holds the data and the binlog with 10% headroom, rounded up to 128 MiB', memoryGiB: 23, dataMiB: 2048, binlogMiB: 275, pool: 2560 * MiB, log: 2560 * MiB },
    { name: 'a database larger than memory is capped at 60% of it', memoryGiB: 8, dataMiB: 20 * 1024, binlogMiB: 500, pool: 4864 * MiB, log: 4 * GiB },
    { name: 'the redo log stops at 4 GiB', memoryGiB: 64, dataMiB: 30 * 1024, binlogMiB: 0, pool: 33792 * MiB, log: 4 * GiB },
    { name: 'a machine too small for the rule still gets 128 MiB', memoryGiB: 0.125, dataMiB: 1024, binlogMiB: 0, pool: 128 * MiB, log: 256 * MiB },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const s = sizeReplayServer({ memoryBytes: c.memoryGiB * GiB, dataBytes: c.dataMiB * MiB, binlogBytes: c.binlogMiB * MiB, cores: 2 });
      assert.equal(s.bufferPoolBytes / MiB, c.pool / MiB);
      assert.equal(s.logFileBytes / MiB, c.log / MiB);
    });
  }

  it('an explicit buffer pool, redo log and thread count win over the rule', () => {
    const s = sizeReplayServer({ memoryBytes: 16 * GiB, dataBytes: 10 * GiB, binlogBytes: 0, cores: 2, bufferPoolBytes: 512 * MiB, logFileBytes: 300 * MiB, parallelThreads: 3 });
    assert.deepEqual([s.bufferPoolBytes, s.logFileBytes, s.parallelThreads], [512 * MiB, 300 * MiB, 3]);
    assert.match(s.reason, /as configured/);
  });

  it('the redo log follows an explicit buffer pool when not given itself', () => {
    assert.equal(sizeReplayServer({ memoryBytes: 16 * GiB, dataBytes: 0, binlogBytes: 0, cores: 2, bufferPoolBytes: 1 * GiB }).logFileBytes, 1 * GiB);
  });

  it('applies with 4 threads per core, at least 4 and at most 64, every domain free to use them all', () => {
    assert.deepEqual(
      [1, 2, 8, 32].map((cores) => replayParallelism(cores)),
      [
        { parallelThreads: 4, domainParallelThreads: 0 },
        { parallelThreads: 8, domainParallelThreads: 0 },
        { parallelThreads: 32, domainParallelThreads: 0 },
        { parallelThreads: 64, domainParallelThreads: 0 },
      ],
    );
  });

  it('reads sizes with K, M, G and T suffixes, and refuses what is not a size', () => {
    assert.deepEqual(['512M', '2G', '1.5g', '268435456', '64KiB', '4GB'].map(parseSize), [512 * MiB, 2 * GiB, 1.5 * GiB, 268435456, 64 * 1024, 4 * GiB]);
    assert.deepEqual(['', 'lots', '-1G', '2X'].map(parseSize), [undefined, undefined, undefined, undefined]);
  });
});
