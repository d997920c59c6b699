import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ClusterState, DurablePosition } from '../../../agent/cluster/repo.js';
import { isOwnAdvance, isOwnClaim } from '../../../agent/cluster/own-write.js';

const start = { file: 'mariadb-bin.000001', pos: 4, gtid: '' };
const position: DurablePosition = { epoch: 3, seq: 7, file: 'mariadb-bin.000002', end: 900, gtid: '0-1-70', key: 'k7', at: '2026-01-01T00:00:00.000Z' };
const me = { holder: 'a', token: 't1' };
const state = (over: Partial<ClusterState> = {}): ClusterState => ({
  clusterId: 'c1',
  epoch: 3,
  status: 'HEALTHY',
  durable: position,
  durableSeq: 7,
  start,
  leaseHolder: 'a',
  leaseToken: 't1',
  leaseExpiresAt: 0,
  heartbeatAt: null,
  server: null,
  durableBy: me,
  claimToken: 'claim-1',
  ...over,
});

describe('own write', () => {
  const advances: [string, ClusterState | undefined, boolean][] = [
    ['the position this writer wrote', state(), true],
    ['no state item', undefined, false],
    ['another token of the same holder (a zombie or a restart)', state({ durableBy: { holder: 'a', token: 't2' } }), false],
    ['another holder with the same token', state({ durableBy: { holder: 'b', token: 't1' } }), false],
    ['no writer recorded (an item from before writers were recorded)', state({ durableBy: undefined }), false],
    ['a later seq', state({ durableSeq: 8, durable: { ...position, seq: 8 } }), false],
    ['another epoch (claimed after our write)', state({ epoch: 4, durableSeq: 0 }), false],
    ['another chunk key at the same seq', state({ durable: { ...position, key: 'k7b' } }), false],
    ['another end at the same seq and key', state({ durable: { ...position, end: 901 } }), false],
    ['nothing durable', state({ durable: null }), false],
  ];
  for (const [name, s, own] of advances) {
    it(`${own ? 'recognises' : 'does not recognise'} as its own advance: ${name}`, () => {
      assert.equal(isOwnAdvance(s, me, position), own);
    });
  }

  const claims: [string, ClusterState | undefined, boolean][] = [
    ['the claim with this token, epoch and start', state(), true],
    ['another claim of the same epoch from the same start', state({ claimToken: 'claim-2' }), false],
    ['the same token at another epoch', state({ epoch: 4 }), false],
    ['another start', state({ start: { ...start, pos: 5 } }), false],
    ['no claim token recorded', state({ claimToken: undefined }), false],
    ['no state item', undefined, false],
  ];
  for (const [name, s, own] of claims) {
    it(`${own ? 'recognises' : 'does not recognise'} as its own claim: ${name}`, () => {
      assert.equal(isOwnClaim(s, 3, 'claim-1', start), own);
    });
  }
});
