/**
 * `npm run demo`: the local end-to-end story, with embedded defaults. Starts the local S3 and
 * DynamoDB stand-ins and a private MariaDB primary, checks the primary, runs the agent under a
 * write load, then verifies the stored chunks and rebuilds the server's binlog from them.
 * Everything it starts, it stops, also on Ctrl-C.
 */
import mysql from 'mysql2/promise';
import { buildStreamer, objectStoreFor } from '../cli/agent.js';
import { statusReport } from '../cli/status.js';
import { describeError } from '../errors.js';
import { createLogger } from '../log.js';
import { evaluate, flavourOf, formatReport, gatherFacts } from '../preflight.js';
import { sleep } from '../retry.js';
import { ClusterStateRepo } from '../stream/cluster-state.js';
import { openStateStore } from '../wiring.js';
import { compareWithServer, rebuildFiles } from './binlog-compare.js';
import { localAgentConfig, waitCaughtUp } from './catch-up.js';
import { MariaDbServer } from './mariadb.js';
import { startLocalStack, type LocalStack } from './stack.js';

const TRANSACTIONS = Number(process.env.SQUIRREL_DEMO_TRANSACTIONS ?? 3000);
const say = (line = '') => process.stdout.write(`${line}\n`);

async function writeLoad(url: string, total: number, onProgress: (n: number) => void): Promise<void> {
  const conn = await mysql.createConnection(url);
  try {
    await conn.query('CREATE DATABASE IF NOT EXISTS shop');
    await conn.query('CREATE TABLE shop.orders (id INT PRIMARY KEY, customer INT, amount DECIMAL(10,2), note VARCHAR(200))');
    for (let n = 1; n <= total; n++) {
      await conn.beginTransaction();
      await conn.query('INSERT INTO shop.orders VALUES (?, ?, ?, ?)', [n, n % 97, (n * 7.31) % 1000, `order ${n}`]);
      if (n % 3 === 0) await conn.query('UPDATE shop.orders SET amount = amount + 1 WHERE id = ?', [n - 1]);
      await conn.commit();
      if (n % 1000 === 0) await conn.query('FLUSH BINARY LOGS'); // several files, joined through ROTATE
      if (n % 100 === 0) onProgress(n);
    }
  } finally {
    await conn.end();
  }
}

async function main(): Promise<number> {
  let stack: LocalStack | undefined;
  let server: MariaDbServer | undefined;
  const cleanup = async () => {
    await server?.stop().catch(() => undefined);
    await stack?.stop().catch(() => undefined);
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    say('squirrel demo: a MariaDB primary whose binlog streams to S3, with the durable position in DynamoDB');
    say('everything runs here: a private mariadbd, s3rver for S3, DynamoDB Local\n');

    say('[1/6] starting the local S3 and DynamoDB stand-ins');
    stack = await startLocalStack({ clusterId: 'demo' });
    say(`      S3 ${stack.s3.endpoint} (bucket ${stack.bucket}), DynamoDB ${stack.dynamodb.endpoint} (table ${stack.table})`);

    say('[2/6] starting a MariaDB primary (binlog on, ROW format, GTID strict mode, sync_binlog=1)');
    server = await MariaDbServer.start();
    say(`      ${server.url.replace(/:[^:@]*@/, ':***@')}`);

    say('[3/6] squirrel preflight: can this server be protected?');
    const facts = await gatherFacts(server.url, 4_000_000_001);
    say(formatReport(evaluate(facts), flavourOf(facts.version)).replace(/^/gm, '      '));

    const config = { ...localAgentConfig(stack, server.url, 'demo'), agentId: 'demo-agent' };
    say(`[4/6] squirrel agent streaming while ${TRANSACTIONS} transactions commit`);
    const { streamer, close } = buildStreamer(config, createLogger('error'), 'oldest');
    const running = streamer.run();
    const repo = new ClusterStateRepo(openStateStore(config), config.clusterId);
    let committed = 0;
    const t0 = Date.now();
    const load = writeLoad(server.url, TRANSACTIONS, (n) => (committed = n));
    const print = async () => {
      const state = await repo.read();
      if (!state) return;
      const r = statusReport(state, Date.now());
      const durable = r.durable ? `${r.durable.file}:${r.durable.end} (chunk seq ${r.durable.seq})` : 'nothing yet';
      say(`      committed ${String(committed).padStart(6)}   durable up to ${durable}   lag ${(r.lagSeconds ?? 0).toFixed(2)} s`);
    };
    while (!(await Promise.race([load.then(() => true), sleep(1000).then(() => false)]))) await print();
    committed = TRANSACTIONS;
    await waitCaughtUp(repo, server, { timeoutMs: 120_000 });
    await print();
    say(`      all ${TRANSACTIONS} transactions durable ${((Date.now() - t0) / 1000).toFixed(1)} s after the load began`);
    await streamer.stop();
    const reason = await running;
    await close();
    if (reason.kind === 'failed') throw reason.error;

    say('[5/6] squirrel verify: chain, SHA-256 of every chunk, CRC32 of every event');
    const stateStore = openStateStore(config);
    const state = (await repo.read())!;
    const { files, report } = await rebuildFiles(objectStoreFor(config), stateStore, '', state);
    say(`      ${report.ok ? 'ok' : 'NOT OK'}: ${report.checked.chunks} chunks, ${report.checked.bytes} bytes, ${report.checked.events} events`);
    for (const p of report.problems) say(`      problem: ${p.object}: ${p.message}`);

    say('[6/6] the server\'s binlog, rebuilt from the chunks in S3 (magic + chunks, file by file):');
    const cmp = await compareWithServer(files, await server.binlogFiles());
    let equal = report.ok;
    for (const [i, c] of cmp.entries()) {
      // the file the server still writes is compared up to the durable end; every other one whole
      const last = i === cmp.length - 1;
      const same = c.firstDifference === -1 && (last || c.rebuiltBytes === c.serverBytes);
      equal &&= same;
      const verdict = same ? (last && c.rebuiltBytes < c.serverBytes ? 'identical up to the durable end' : 'identical') : c.firstDifference === -1 ? 'INCOMPLETE' : `DIFFERS at byte ${c.firstDifference}`;
      say(`      ${c.file}: ${c.rebuiltBytes} of ${c.serverBytes} bytes, ${verdict}`);
    }
    say();
    say(equal ? 'result: every committed transaction is in S3, and the chunks rebuild the binlog byte for byte.' : 'result: FAILED (see above)');
    say('not in this demo yet: base backups and restore, the fake primary, failover (see README "Status").');
    return equal ? 0 : 1;
  } catch (err) {
    process.stderr.write(`demo failed: ${describeError(err)}\n`);
    return 1;
  } finally {
    await cleanup();
  }
}

process.exitCode = await main();
