import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { AuthenticationError } from '../../../agent/errors.js';
import { ServerConnection } from '../../../agent/protocol/connection.js';
import { buildHandshakeResponse, Capability, parseInitialHandshake, scrambleNativePassword } from '../../../agent/protocol/handshake.js';
import { PacketStream } from '../../../agent/protocol/packet-stream.js';
import { parseErrPacket } from '../../../agent/protocol/server-packets.js';
import { acceptClient, buildInitialHandshake, nativePasswordMatches, newSeed, parseHandshakeResponse, type AuthOutcome } from '../../../agent/serve/server-handshake.js';

/** A server that runs acceptClient on each connection and records the outcome. */
async function authServer(user: string, password: string): Promise<{ port: number; outcomes: AuthOutcome[]; close: () => Promise<void> }> {
  const outcomes: AuthOutcome[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    const stream = new PacketStream(socket, { target: 'client' });
    void acceptClient(stream, { user, password, serverVersion: '5.5.5-10.11.0-MariaDB-squirrel', connectionId: 7, clientHost: '127.0.0.1', timeoutMs: 5000 })
      .then((o) => {
        outcomes.push(o);
        if (!o.ok) stream.end();
      })
      .catch(() => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { port: typeof address === 'object' && address ? address.port : 0, outcomes, close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('server-side handshake', () => {
  it('builds a handshake the client side parses, with a printable 20-byte seed and mysql_native_password', () => {
    const seed = newSeed();
    assert.equal(seed.length, 20);
    assert.ok([...seed].every((b) => b >= 33 && b < 127));
    const h = parseInitialHandshake(buildInitialHandshake({ serverVersion: '5.5.5-10.11.0-MariaDB-squirrel', connectionId: 42, seed }));
    assert.equal(h.serverVersion, '5.5.5-10.11.0-MariaDB-squirrel');
    assert.equal(h.connectionId, 42);
    assert.deepEqual(h.seed, seed);
    assert.equal(h.authPluginName, 'mysql_native_password');
    assert.ok(h.capabilities & Capability.PROTOCOL_41 && h.capabilities & Capability.PLUGIN_AUTH);
  });

  it('reads back the response the client side builds, and checks the scramble', () => {
    const seed = newSeed();
    const payload = buildHandshakeResponse({
      capabilities: Capability.PROTOCOL_41 | Capability.SECURE_CONNECTION | Capability.PLUGIN_AUTH | Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA,
      user: 'repl',
      authResponse: scrambleNativePassword('pw', seed),
      authPluginName: 'mysql_native_password',
    });
    const r = parseHandshakeResponse(payload);
    assert.equal(r.user, 'repl');
    assert.equal(r.authPluginName, 'mysql_native_password');
    assert.ok(nativePasswordMatches('pw', seed, r.authResponse));
    assert.ok(!nativePasswordMatches('other', seed, r.authResponse));
    assert.ok(nativePasswordMatches('', seed, Buffer.alloc(0)));
  });

  it('lets the configured user in, and refuses a wrong password with access denied (1045)', async (t) => {
    const server = await authServer('repl', 's3cret');
    t.after(() => server.close());
    const conn = await ServerConnection.open({ host: '127.0.0.1', port: server.port, user: 'repl', password: 's3cret', timeoutMs: 5000 });
    conn.close();
    await assert.rejects(ServerConnection.open({ host: '127.0.0.1', port: server.port, user: 'repl', password: 'wrong', timeoutMs: 5000 }), (err: unknown) => {
      assert.ok(err instanceof AuthenticationError);
      assert.match(err.message, /Access denied for user 'repl'@'127\.0\.0\.1' \(using password: YES\)/);
      return true;
    });
    await assert.rejects(ServerConnection.open({ host: '127.0.0.1', port: server.port, user: 'root', password: 's3cret', timeoutMs: 5000 }), AuthenticationError);
    assert.deepEqual(server.outcomes.map((o) => o.ok), [true, false, false]);
  });

  it('switches a client that proposes another plugin to mysql_native_password with a new seed', async (t) => {
    const server = await authServer('repl', 's3cret');
    t.after(() => server.close());
    const socket = connect({ host: '127.0.0.1', port: server.port });
    t.after(() => socket.destroy());
    const stream = new PacketStream(socket, { target: 'server' });
    const handshake = parseInitialHandshake(await stream.read('handshake'));
    stream.write(
      buildHandshakeResponse({
        capabilities: Capability.PROTOCOL_41 | Capability.SECURE_CONNECTION | Capability.PLUGIN_AUTH,
        user: 'repl',
        authResponse: Buffer.from('not a native scramble'),
        authPluginName: 'client_ed25519',
      }),
    );
    const sw = await stream.read('auth switch');
    assert.equal(sw[0], 0xfe);
    const plugin = sw.subarray(1, sw.indexOf(0, 1)).toString();
    assert.equal(plugin, 'mysql_native_password');
    const seed = sw.subarray(sw.indexOf(0, 1) + 1, sw.length - 1);
    assert.notDeepEqual(seed, handshake.seed);
    stream.write(scrambleNativePassword('s3cret', seed));
    const ok = await stream.read('auth result');
    assert.equal(ok[0], 0x00, ok[0] === 0xff ? parseErrPacket(ok).message : '');
  });
});
