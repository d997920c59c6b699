import { after, afterEach, before, type TestContext } from 'node:test';
import { MariaDbServer, type MariaDbOptions } from '../../agent/server/mariadb.js';

/** node:test has `passed` on the context at run time (Node 20.12+), not yet in @types/node 20. */
const failed = (t: object): boolean => (t as { passed?: boolean }).passed === false;

function printLog(server: MariaDbServer, label: string): void {
  const tail = server.errorLog().trimEnd().split('\n').slice(-40).join('\n');
  process.stderr.write(`--- ${label}: error log of mariadbd on port ${server.port} (${server.dir}) ---\n${tail}\n---\n`);
}

/**
 * A private MariaDB server for one test: stopped (and its directory removed) when the test
 * ends; its error log is printed when the test failed.
 */
export async function withMariaDb(t: TestContext, opts: MariaDbOptions = {}): Promise<MariaDbServer> {
  const server = await MariaDbServer.start(opts);
  t.after(async () => {
    if (failed(t)) printLog(server, t.name);
    await server.stop();
  });
  return server;
}

/**
 * One server shared by the tests of a file (or describe block): started in `before`, stopped
 * in `after`, error log printed after each failed test. Call at the top level of the suite;
 * the returned function gives the running server inside tests.
 */
export function mariaDbFixture(opts: MariaDbOptions = {}): () => MariaDbServer {
  let server: MariaDbServer | undefined;
  before(async () => {
    server = await MariaDbServer.start(opts);
  });
  afterEach((t) => {
    if (server && failed(t)) printLog(server, 'name' in t ? t.name : 'hook');
  });
  after(async () => {
    await server?.stop();
  });
  return () => {
    if (!server) throw new Error('mariaDbFixture: the server is not started (used outside a test?)');
    return server;
  };
}
