import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const demo = fileURLToPath(new URL('../../../agent/local/demo.js', import.meta.url));

describe('npm run demo', () => {
  it('tells the whole story: streaming, kill -9, the failover step by step, the counts, and exits 0 having stopped everything', async () => {
    const { code, stdout, stderr } = await runDemo([]);
    assert.equal(code, 0, `${stdout}\n${stderr}`);
    for (const step of [/killed i-local-0001/, /detection: failover failover-demo-epoch-1/, /epoch 2 claimed with the handover/, /fence: forced stop/, /launch: replacement i-local-0002/, /replacement i-local-0002: restoring/, /replacement i-local-0002: promoting/, /endpoint moved to/, /first write accepted at the endpoint/]) {
      assert.match(stdout, step);
    }
    const counts = /acknowledged (\d+) {3}durable (\d+) {3}present (\d+) {3}lost (\d+)/.exec(stdout);
    assert.ok(counts, stdout);
    const [, acked, durable, present, lost] = counts.map(Number);
    // a row whose commit was cut off before its acknowledgement can be durable and present too
    assert.ok(present! >= durable! && present! <= durable! + 1, stdout);
    assert.ok(acked! >= 300 && acked! - lost! <= present!);
    assert.match(stdout, /kill -9 → first write accepted at the endpoint: \d+\.\d\d s/);
    assert.match(stdout, /result: every durable transaction survived the kill/);
  });

  it('with --lossless: the cluster runs lossless strict and not one acknowledged row is lost', async () => {
    const { code, stdout, stderr } = await runDemo(['--lossless']);
    assert.equal(code, 0, `${stdout}\n${stderr}`);
    assert.match(stdout, /local cluster up --lossless strict/);
    const counts = /acknowledged (\d+) {3}durable (\d+) {3}present (\d+) {3}lost (\d+)/.exec(stdout);
    assert.ok(counts, stdout);
    const [, acked, durable, , lost] = counts.map(Number);
    assert.ok(acked! >= 300, stdout);
    assert.equal(lost, 0, stdout);
    // every acknowledged row was inside the durable position at the kill
    assert.equal(durable, acked, stdout);
    assert.match(stdout, /result: every acknowledged transaction survived the kill/);
  });
});

function runDemo(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [demo, ...args], { env: { ...process.env, SQUIRREL_DEMO_TRANSACTIONS: '300', NODE_NO_WARNINGS: '1' }, timeout: 300_000 }, (err, out, errOut) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout: out, stderr: errOut }),
    );
  });
}
