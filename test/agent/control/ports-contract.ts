/**
 * The Compute and Endpoint contracts (agent/ports/), one suite per port, to run against every
 * adapter with a behaviour of its own here (ports-contract.test.ts): the memory ones now; the
 * local cluster's process groups and TCP forwarder join when they exist. (The AWS adapters are
 * checked call by call with aws-sdk-client-mock in test/agent/aws/.)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Compute } from '../../../agent/ports/compute.js';
import type { Endpoint } from '../../../agent/ports/endpoint.js';

/** A Compute with one running instance, `running`. */
type ComputeFixture = () => { compute: Compute; running: string };

export function computeContract(name: string, open: ComputeFixture): void {
  describe(`Compute contract (${name})`, () => {
    it('reserve and launch are idempotent per token', async () => {
      const { compute } = open();
      const r1 = await compute.reserve({ clusterId: 'c', epoch: 2, token: 't1' });
      assert.deepEqual(await compute.reserve({ clusterId: 'c', epoch: 2, token: 't1' }), r1);
      assert.notDeepEqual(await compute.reserve({ clusterId: 'c', epoch: 2, token: 't2' }), r1);
      const req = { clusterId: 'c', epoch: 2, reservation: r1, job: { kind: 'restore-and-promote' as const, target: 'latest' as const }, token: 't1' };
      const a = await compute.launch(req);
      assert.deepEqual(await compute.launch(req), a);
      assert.deepEqual(a.identity, r1.identity, 'the instance has the reserved address');
      assert.ok(['pending', 'running'].includes(await compute.describe(a.instanceId)));
    });

    it('a forced stop ends in a state that takes no writes; stopping again is no error', async () => {
      const { compute, running } = open();
      await compute.stop(running, { force: true });
      assert.ok(['stopping', 'stopped', 'terminated'].includes(await compute.describe(running)));
      await compute.stop(running, { force: true });
    });

    it('an unknown instance is missing, not an error', async () => {
      assert.equal(await open().compute.describe('i-unknown'), 'missing');
    });
  });
}

export function endpointContract(name: string, open: () => Endpoint): void {
  describe(`Endpoint contract (${name})`, () => {
    it('points nowhere before the first point; then where it was last pointed; pointing again changes nothing', async () => {
      const e = open();
      assert.equal(await e.current('c'), undefined);
      await e.point('c', { host: '127.0.0.1', port: 3307 });
      await e.point('c', { host: '127.0.0.1', port: 3308 });
      await e.point('c', { host: '127.0.0.1', port: 3308 });
      assert.deepEqual(await e.current('c'), { host: '127.0.0.1', port: 3308 });
      assert.equal(await e.current('other'), undefined, 'per cluster');
    });
  });
}
