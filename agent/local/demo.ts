/**
 * `npm run demo`: the whole story on this machine, with embedded defaults, narrated as a
 * timeline. A local cluster (squirrel local cluster up): a primary instance (mariadbd and its
 * agent streaming the binlog to the S3 stand-in), an endpoint clients use, and the control
 * plane. A client writes numbered rows through the endpoint; the instance is killed (kill -9
 * of its whole process group); detection, fencing, the replacement's restore and promotion and
 * the endpoint's move follow with nobody touching anything, and writes resume through the same
 * endpoint. Then the counts: what was acknowledged, durable, present, lost. Everything it
 * starts, it stops, also on Ctrl-C.
 *
 * `npm run demo -- --lossless`: the same story with the cluster in lossless strict mode (every
 * commit returns only once durable), where lost must be 0.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { ClusterStateRepo, handoverOf } from '../cluster/repo.js';
import { describeError } from '../errors.js';
import { sleep } from '../retry.js';
import { verifyCluster } from '../stream/verify.js';
import { objectStoreFor } from '../cli/agent.js';
import { openStateStore } from '../wiring.js';
import { freePort } from '../server/free-port.js';
import { clusterDown, clusterKill, clusterStatus, clusterUp, waitForExecution } from './cluster/cluster.js';
import { readTimeline, type TimelineEvent } from './cluster/files.js';
import { gtidSeq, NumberedWriter, positionSeq } from './cluster/writer.js';

const LOSSLESS = process.argv.slice(2).includes('--lossless');
const ROWS_BEFORE_KILL = Number(process.env.SQUIRREL_DEMO_TRANSACTIONS ?? (LOSSLESS ? 1000 : 3000));
const say = (line = '') => process.stdout.write(`${line}\n`);
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** A timeline event as a line of the story, or undefined for the ones it does not tell. */
function tell(e: TimelineEvent): string | undefined {
  const args = (): unknown[] => JSON.parse(e.detail.replace(/^\w+ /, '')) as unknown[];
  switch (e.kind) {
    case 'instance':
      return `instance ${e.detail} (the state-change event EC2 would send)`;
    case 'workflow':
      return /started/.test(e.detail) ? `detection: ${e.detail.replace(/:.*$/, '')}` : `workflow ${e.detail}`;
    case 'compute': {
      const [a] = args() as [{ epoch?: number; instanceId?: string; job?: { kind: string }; reservation?: { identity: { instanceId?: string; port: number } } } | string];
      if (e.detail.startsWith('reserve')) return `claim: an address for the replacement, and epoch ${(a as { epoch: number }).epoch} claimed with the handover (the old agent can advance nothing now)`;
      if (e.detail.startsWith('stop')) return `fence: forced stop of the old instance ${String(a)}`;
      if (e.detail.startsWith('launch')) {
        const r = a as { job: { kind: string }; reservation: { identity: { instanceId?: string; port: number } } };
        return `launch: replacement ${r.reservation.identity.instanceId} (job ${r.job.kind}) on port ${r.reservation.identity.port}`;
      }
      return undefined;
    }
    case 'endpoint': {
      const [, target] = args() as [string, { host: string; port: number }];
      return `endpoint moved to ${target.host}:${target.port}`;
    }
    case 'notify':
      return `notified: ${e.detail}`;
    default:
      return undefined;
  }
}

async function main(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'squirrel-demo-'));
  let writer: NumberedWriter | undefined;
  let keep = false;
  const cleanup = async () => {
    await writer?.stop().catch(() => undefined);
    await clusterDown(dir).catch(() => undefined);
    if (!keep) rmSync(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    say('squirrel demo: a MariaDB primary whose binlog streams to S3, killed under load, and replaced by the control plane');
    say('everything runs here: private mariadbd servers, s3rver for S3, DynamoDB Local, the Step Functions workflows run locally\n');

    say(`[1/5] squirrel local cluster up${LOSSLESS ? ' --lossless strict' : ''}: the stand-ins, a primary instance (mariadbd + agent, one process group), the endpoint, the control plane`);
    const up = await clusterUp(dir, { clusterId: 'demo', endpointPort: await freePort(), leaseMs: 10_000, lossless: LOSSLESS ? 'strict' : 'off' });
    if (LOSSLESS) say('      lossless strict: every instance runs semi-sync (AFTER_SYNC) and a commit returns only once its chunk is in S3 and the durable position covers it');
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: up.env.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: up.env.AWS_SECRET_ACCESS_KEY, AWS_REGION: up.env.AWS_REGION });
    const first = (await clusterStatus(dir)).instances[0]!;
    say(`      primary ${first.instanceId} on 127.0.0.1:${first.port}, streaming epoch 1, first base backup ${first.status?.backupId ?? '-'}`);
    say(`      endpoint ${up.endpointUrl.replace(/:[^:@]*@/, ':***@')} (clients use only this)`);
    const config = { clusterId: 'demo', bucket: up.env.SQUIRREL_BUCKET!, table: up.env.SQUIRREL_TABLE!, region: up.env.SQUIRREL_REGION!, s3Endpoint: up.env.SQUIRREL_S3_ENDPOINT!, dynamodbEndpoint: up.env.SQUIRREL_DYNAMODB_ENDPOINT! };
    const stateStore = openStateStore(config);
    const repo = new ClusterStateRepo(stateStore, 'demo');

    say(`[2/5] a client commits numbered rows through the endpoint, one transaction each; the agent streams them to S3`);
    writer = new NumberedWriter(up.endpointUrl, 'shop.orders');
    await writer.start();
    while (writer.acked.length < ROWS_BEFORE_KILL) {
      await sleep(1000);
      const s = (await repo.read())!;
      const lag = s.durable?.at ? Math.max(0, Date.now() - Date.parse(s.durable.at)) : 0;
      say(`      acknowledged ${String(writer.acked.length).padStart(6)}   durable up to ${s.durable?.gtid ?? '-'} (chunk ${s.durable?.seq ?? 0})   ${secs(lag)} ago`);
    }

    say('[3/5] kill -9 of the primary\'s whole process group (mariadbd and agent), as when EC2 loses the instance');
    const killed = await clusterKill(dir, 'instance');
    const killedAt = killed.at;
    say(`      +0.00 s  killed ${killed.instanceId}; the client keeps trying the endpoint every 50 ms`);
    const told = new Set<string>();
    const seen = new Set<string>();
    let resumedAt: number | undefined;
    const narrate = async () => {
      const lines: { at: number; text: string }[] = [];
      const line = (at: number, text: string) => lines.push({ at, text: `      +${secs(Math.max(0, at - killedAt)).padStart(7)}  ${text}` });
      for (const e of readTimeline(dir)) {
        const key = `${e.at} ${e.kind} ${e.detail}`;
        if (Date.parse(e.at) < killedAt - 50 || told.has(key)) continue;
        told.add(key);
        const text = tell(e);
        if (text) line(Date.parse(e.at), text);
      }
      for (const i of (await clusterStatus(dir)).instances) {
        if (i.instanceId === killed.instanceId) continue;
        for (const h of i.status?.history ?? []) {
          const key = `${i.instanceId} ${h.phase}`;
          if (seen.has(key) || Date.parse(h.at) < killedAt) continue;
          seen.add(key);
          line(Date.parse(h.at), `replacement ${i.instanceId}: ${h.phase}${h.phase === 'restoring' ? ' (base backup from S3, then the chunks replayed through the built-in fake primary)' : h.phase === 'promoting' ? ' (checks the applied position, opens writes, records where epoch 2 begins)' : h.phase === 'joining' ? ' (its agent takes the lease of epoch 2)' : h.phase === 'streaming' ? ' (its agent streams epoch 2; a base backup of the new timeline follows)' : ''}`);
        }
      }
      const cut = writer!.errors.find((x) => x.at >= killedAt)?.at ?? killedAt;
      const ack = writer!.acked.find((a) => a.at > cut);
      if (ack && resumedAt === undefined) {
        resumedAt = ack.at;
        line(ack.at, `first write accepted at the endpoint (row ${ack.id}, GTID ${ack.gtid})`);
      }
      for (const l of lines.sort((a, b) => a.at - b.at)) say(l.text);
    };
    const done = waitForExecution(dir, 'failover-demo-epoch-1', 300_000);
    let finished = false;
    void done.finally(() => (finished = true));
    while (!finished || resumedAt === undefined) {
      await narrate();
      if (Date.now() - killedAt > 300_000) throw new Error('no write was accepted at the endpoint within 300 s of the kill');
      await sleep(100);
    }
    await narrate();
    const outcome = await done;
    if (outcome.status !== 'SUCCEEDED') throw new Error(`the failover workflow ${outcome.status}: ${outcome.error}: ${outcome.cause}`);

    say('[4/5] what the new primary holds, against what the old one acknowledged and made durable');
    await writer.waitForAcks(200);
    await writer.pause();
    const cut = writer.errors.find((x) => x.at >= killedAt)!.at;
    const before = writer.acked.filter((a) => a.at <= cut);
    const after = writer.acked.filter((a) => a.at > cut);
    const state = (await repo.read())!;
    const handover = handoverOf(state, 1)!;
    const durableSeq = positionSeq(handover.durable?.gtid);
    const conn = await mysql.createConnection(up.endpointUrl);
    let present: Set<number>;
    try {
      const [rows] = await conn.query('SELECT id FROM shop.orders');
      present = new Set((rows as { id: number }[]).map((r) => r.id));
    } finally {
      await conn.end();
    }
    const boundary = after[0]!.id;
    const presentBefore = [...present].filter((id) => id < boundary).length;
    const durable = before.filter((a) => gtidSeq(a.gtid) <= durableSeq);
    const lost = before.filter((a) => !present.has(a.id));
    const missingDurable = durable.filter((a) => !present.has(a.id));
    const ghosts = before.filter((a) => gtidSeq(a.gtid) > durableSeq && present.has(a.id));
    const missingAfter = after.filter((a) => !present.has(a.id));
    say(`      epoch 1 handover (durable at the kill): ${handover.durable?.gtid}; the cluster is now epoch ${state.epoch}, ${state.status}`);
    say(`      acknowledged ${before.length}   durable ${durable.length}   present ${presentBefore}   lost ${lost.length}`);
    say(`      after the failover: ${after.length} rows acknowledged by the new primary, ${after.length - missingAfter.length} present`);
    say(`      kill -9 → first write accepted at the endpoint: ${secs(resumedAt! - killedAt)}`);
    if (lost.length > 0 && !LOSSLESS) say(`      the ${lost.length} lost rows were acknowledged after the last durable chunk: the lag window. Lossless mode (npm run demo -- --lossless) acknowledges a commit only once it is durable.`);

    say('[5/5] squirrel verify: both epochs\' chains, SHA-256 of every chunk, CRC32 of every event');
    writer.unpause();
    const report = await verifyCluster(objectStoreFor(config), stateStore, '', (await repo.read())!);
    say(`      ${report.ok ? 'ok' : 'NOT OK'}: ${report.checked.chunks} chunks, ${report.checked.bytes} bytes, ${report.checked.events} events`);
    for (const p of report.problems) say(`      problem: ${p.object}: ${p.message}`);

    // lossless: nothing acknowledged may be lost, however the kill fell
    const ok = report.ok && missingDurable.length === 0 && ghosts.length === 0 && missingAfter.length === 0 && state.status === 'HEALTHY' && (!LOSSLESS || lost.length === 0);
    say();
    say(
      ok
        ? `result: every ${LOSSLESS ? 'acknowledged' : 'durable'} transaction survived the kill, nothing past the durable position came back, and writes resumed at the same endpoint with nobody touching anything.`
        : `result: FAILED (${missingDurable.length} durable rows missing, ${ghosts.length} rows past the durable position present, ${missingAfter.length} new rows missing${LOSSLESS ? `, ${lost.length} acknowledged rows lost in lossless mode` : ''})`,
    );
    return ok ? 0 : 1;
  } catch (err) {
    keep = true;
    process.stderr.write(`demo failed: ${describeError(err)}\n(kept for a look: ${dir}/control.log, ${dir}/timeline.log, ${dir}/instances/*/instance.log)\n`);
    return 1;
  } finally {
    await cleanup();
  }
}

process.exitCode = await main();
