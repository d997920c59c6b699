/**
 * Entry point of the local S3 stand-in process: s3rver with the conditional-write and checksum
 * middleware of s3-conditions.ts. Started by s3.ts as a child process (attached for tests,
 * detached for `squirrel local up`). Prints one line, `{"endpoint":"http://127.0.0.1:PORT"}`,
 * once it listens; stops on SIGTERM/SIGINT, and with `--exit-with-parent` also when its stdin
 * closes (the parent died).
 *
 *   node dist/agent/local/s3-server-main.js --dir DIR [--port 0] [--bucket NAME]... [--exit-with-parent]
 */
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import type { Server } from 'node:http';
import { conditionalWrites, orderedListing, storeChecksumMetadata, type KoaMiddleware } from './s3-conditions.js';

interface S3rverApp {
  middleware: KoaMiddleware[];
  run(): Promise<{ address: string; port: number }>;
  close(): Promise<void>;
  httpServer?: Server;
}
type S3rverClass = new (options: Record<string, unknown>) => S3rverApp;

const { values } = parseArgs({
  options: {
    dir: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
    bucket: { type: 'string', multiple: true, default: [] },
    'exit-with-parent': { type: 'boolean', default: false },
  },
});

if (!values.dir) {
  process.stderr.write('s3-server-main: --dir is required\n');
  process.exit(2);
}
mkdirSync(values.dir, { recursive: true });

storeChecksumMetadata();
orderedListing();
const S3rver = createRequire(import.meta.url)('s3rver') as S3rverClass;
const app = new S3rver({
  address: values.host,
  port: Number(values.port),
  directory: values.dir,
  silent: true,
  // Clients reach us by IP and path-style; never treat the Host header as a bucket name.
  vhostBuckets: false,
  configureBuckets: values.bucket.map((name) => ({ name })),
});
// The router is s3rver's last middleware; the preconditions must run before it.
app.middleware.splice(app.middleware.length - 1, 0, conditionalWrites());

const address = await app.run();
process.stdout.write(`${JSON.stringify({ endpoint: `http://${values.host}:${address.port}`, pid: process.pid })}\n`);

let closing = false;
function shutdown(): void {
  if (closing) return;
  closing = true;
  app.httpServer?.closeAllConnections?.();
  app.close().finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
if (values['exit-with-parent']) {
  process.stdin.on('close', shutdown);
  process.stdin.on('end', shutdown);
  process.stdin.resume();
}
