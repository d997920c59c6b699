import assert from 'node:assert/strict';
import { getPriority } from 'node:os';
import { describe, it } from 'node:test';
import { atLowerPriority } from '../../../agent/restore/cpu-priority.js';
import { silentLogger } from '../../../agent/log.js';

describe('replay at a lower CPU priority', () => {
  const root = process.getuid?.() === 0;

  it('runs the work at the nice value asked for and puts the priority back after', { skip: !root && 'raising a priority back needs root' }, async () => {
    const before = getPriority();
    const during = await atLowerPriority({ nice: before + 5, log: silentLogger }, async () => getPriority());
    assert.equal(during, before + 5);
    assert.equal(getPriority(), before);
  });

  it('puts the priority back when the work fails', { skip: !root && 'raising a priority back needs root' }, async () => {
    const before = getPriority();
    await assert.rejects(
      atLowerPriority({ nice: before + 5, log: silentLogger }, async () => {
        throw new Error('replay failed');
      }),
      /replay failed/,
    );
    assert.equal(getPriority(), before);
  });

  it('leaves the priority alone when it could not be raised back', async () => {
    const before = getPriority();
    const during = await atLowerPriority({ nice: before + 5, log: silentLogger, canRaise: false }, async () => getPriority());
    assert.equal(during, before);
    assert.equal(getPriority(), before);
  });

  it('leaves the priority alone for a nice value of 0', async () => {
    const before = getPriority();
    assert.equal(await atLowerPriority({ nice: 0, log: silentLogger }, async () => getPriority()), before);
  });
});
