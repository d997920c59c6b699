import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { ConnectionError } from '../../../agent/errors.js';
import { ServerConnection } from '../../../agent/protocol/connection.js';
import { scriptedServer } from './fixtures.js';

/** A port nothing listens on: bound once, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address ? address.port : 0;
}

describe('server connection', () => {
  it('reports a refused connection as a retryable ConnectionError with a hint', async () => {
    const port = await closedPort();
    await assert.rejects(ServerConnection.open({ host: '127.0.0.1', port, user: 'u', password: 'p' }), (err: unknown) => {
      assert.ok(err instanceof ConnectionError);
      assert.equal(err.message, `cannot connect to 127.0.0.1:${port}: connection refused`);
      assert.equal(err.retryable, true);
      assert.match(err.hint ?? '', /listening on 127\.0\.0\.1/);
      return true;
    });
  });

  it('gives up on a server that accepts but never sends its handshake', async (t) => {
    const server = await scriptedServer(async () => undefined);
    t.after(() => server.close());
    await assert.rejects(
      ServerConnection.open({ host: '127.0.0.1', port: server.port, user: 'u', password: 'p', timeoutMs: 100 }),
      (err: unknown) => err instanceof ConnectionError && err.retryable && /no initial handshake within 100 ms/.test(err.message),
    );
  });
});
