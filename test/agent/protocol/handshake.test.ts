import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { AuthenticationError, ProtocolError, ServerError } from '../../../agent/errors.js';
import {
  authenticate,
  buildHandshakeResponse,
  Capability,
  clientCapabilities,
  parseAuthSwitchRequest,
  parseInitialHandshake,
  scrambleNativePassword,
} from '../../../agent/protocol/handshake.js';
import { PacketStream } from '../../../agent/protocol/packet-stream.js';
import { DOC_HANDSHAKE_PACKET, frame, hex, scriptedServer, unframe } from './fixtures.js';

const docHandshake = (unframe(DOC_HANDSHAKE_PACKET)[0] as { payload: Buffer }).payload;
const DOC_SEED = hex('7d2e6a4f2c2c366a' + '387460645459442838244' + '87c');

// Test vector from go-sql-driver/mysql auth_test.go (TestAuthFastNativePassword): password "secret".
const GO_SEED = hex('46725c5e01260b743f7217657e671a5f51111815');
const GO_SCRAMBLE = hex('35b18c9ffbbd7f356dfcac32d3c0f0a41a30cf2d');

describe('initial handshake', () => {
  it('parses MariaDB 10.2.10\'s handshake from the protocol docs', () => {
    const h = parseInitialHandshake(docHandshake);
    assert.equal(h.protocolVersion, 10);
    assert.equal(h.serverVersion, '5.5.5-10.2.10-MariaDB-log');
    assert.equal(h.connectionId, 34);
    assert.deepEqual(h.seed, DOC_SEED);
    assert.equal(h.capabilities, 0x81bff7fe);
    assert.equal(h.characterSet, 8);
    assert.equal(h.statusFlags, 2);
    assert.equal(h.authPluginName, 'mysql_native_password');
  });

  it('accepts a plugin name without its terminating NUL (MySQL bug #59453)', () => {
    assert.equal(parseInitialHandshake(docHandshake.subarray(0, docHandshake.length - 1)).authPluginName, 'mysql_native_password');
  });

  it('reports a truncated handshake as a ProtocolError with the offset', () => {
    for (const length of [1, 10, 30, 40, 50]) {
      assert.throws(
        () => parseInitialHandshake(docHandshake.subarray(0, length)),
        (err: unknown) => err instanceof ProtocolError && /initial handshake at byte \d+/.test(err.message),
        `length ${length}`,
      );
    }
  });

  it('refuses protocol versions other than 10', () => {
    const v9 = Buffer.from(docHandshake);
    v9[0] = 9;
    assert.throws(() => parseInitialHandshake(v9), /unsupported protocol version 9/);
  });
});

describe('handshake response', () => {
  it('scrambles a password as mysql_native_password does', () => {
    assert.deepEqual(scrambleNativePassword('secret', GO_SEED), GO_SCRAMBLE);
    assert.equal(scrambleNativePassword('', GO_SEED).length, 0);
  });

  it('asks only for capabilities the server offers, and requires 4.1 auth', () => {
    assert.equal(clientCapabilities(0x81bff7fe), 0x0028a204);
    assert.throws(() => clientCapabilities(0x81bf77fe), /4\.1 protocol or secure authentication/);
  });

  it('builds HandshakeResponse41 byte for byte', () => {
    const bytes = buildHandshakeResponse({
      capabilities: clientCapabilities(0x81bff7fe),
      user: 'root',
      authResponse: scrambleNativePassword('secret', GO_SEED),
      authPluginName: 'mysql_native_password',
    });
    const expected = hex(
      '04a22800' + // capabilities: LONG_FLAG PROTOCOL_41 TRANSACTIONS SECURE_CONNECTION PLUGIN_AUTH PLUGIN_AUTH_LENENC_CLIENT_DATA
        '00000040' + // max packet size 1 GiB
        '2d' + // utf8mb4_general_ci
        '00'.repeat(23) + // reserved, MariaDB extended capabilities
        '726f6f7400' + // "root\0"
        '14' + GO_SCRAMBLE.toString('hex') + // auth response, length-prefixed
        Buffer.from('mysql_native_password\0').toString('hex'),
    );
    assert.deepEqual(bytes, expected);
  });

  it('leaves the plugin name out when the server has no PLUGIN_AUTH', () => {
    const caps = Capability.PROTOCOL_41 | Capability.SECURE_CONNECTION;
    const bytes = buildHandshakeResponse({ capabilities: caps, user: 'u', authResponse: Buffer.alloc(0), authPluginName: 'x' });
    assert.deepEqual(bytes, hex('00820000' + '00000040' + '2d' + '00'.repeat(23) + '7500' + '00'));
  });

  it('reads an AuthSwitchRequest and drops the NUL after the seed', () => {
    const sw = parseAuthSwitchRequest(Buffer.concat([hex('fe'), Buffer.from('mysql_native_password\0'), GO_SEED, hex('00')]));
    assert.equal(sw.pluginName, 'mysql_native_password');
    assert.deepEqual(sw.data, GO_SEED);
  });
});

async function streamTo(port: number): Promise<PacketStream> {
  const socket = connect({ port, host: '127.0.0.1' });
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  return new PacketStream(socket, { target: `127.0.0.1:${port}` });
}

/** A handshake offering mysql_native_password with GO_SEED. */
const goHandshake = Buffer.concat([
  hex('0a'),
  Buffer.from('10.11.6-MariaDB\0'),
  hex('07000000'),
  GO_SEED.subarray(0, 8),
  hex('00' + 'fef7' + '2d' + '0200' + 'bf81' + '15' + '000000000000' + '07000000'),
  GO_SEED.subarray(8),
  hex('00'),
  Buffer.from('mysql_native_password\0'),
]);
const OK = hex('00000002000000');

describe('authentication against a scripted server', () => {
  it('answers the handshake with the scrambled password and finishes on OK', async (t) => {
    const received: { seq: number; payload: Buffer }[] = [];
    const server = await scriptedServer(async ({ socket, next }) => {
      socket.write(frame(0, goHandshake));
      received.push(await next());
      socket.write(frame(2, OK));
    });
    t.after(() => server.close());
    const stream = await streamTo(server.port);
    const h = await authenticate(stream, { user: 'root', password: 'secret', target: `127.0.0.1:${server.port}` }, 2000);
    assert.equal(h.serverVersion, '10.11.6-MariaDB');
    assert.equal(received[0]?.seq, 1);
    assert.ok(received[0]?.payload.includes(GO_SCRAMBLE));
    stream.destroy();
  });

  it('follows an AuthSwitchRequest to mysql_native_password with the new seed', async (t) => {
    const received: { seq: number; payload: Buffer }[] = [];
    const server = await scriptedServer(async ({ socket, next }) => {
      socket.write(frame(0, goHandshake));
      await next();
      socket.write(frame(2, Buffer.concat([hex('fe'), Buffer.from('mysql_native_password\0'), GO_SEED, hex('00')])));
      received.push(await next());
      socket.write(frame(4, OK));
    });
    t.after(() => server.close());
    const stream = await streamTo(server.port);
    await authenticate(stream, { user: 'root', password: 'secret', target: 'x' }, 2000);
    assert.deepEqual(received, [{ seq: 3, payload: GO_SCRAMBLE }]);
    stream.destroy();
  });

  it('turns access denied (1045) into an AuthenticationError naming user@host:port', async (t) => {
    const server = await scriptedServer(async ({ socket, next }) => {
      socket.write(frame(0, goHandshake));
      await next();
      socket.write(frame(2, Buffer.concat([hex('ff1504'), Buffer.from("#28000Access denied for user 'repl'@'localhost' (using password: YES)")])));
    });
    t.after(() => server.close());
    const stream = await streamTo(server.port);
    const target = `127.0.0.1:${server.port}`;
    await assert.rejects(authenticate(stream, { user: 'repl', password: 'wrong', target }, 2000), (err: unknown) => {
      assert.ok(err instanceof AuthenticationError);
      assert.match(err.message, new RegExp(`authentication failed for repl@127\\.0\\.0\\.1:${server.port}: Access denied`));
      assert.ok(err.hint?.includes('REPLICATION SLAVE'));
      assert.equal(err.retryable, false);
      return true;
    });
    stream.destroy();
  });

  it('refuses other authentication plugins with a hint', async (t) => {
    const server = await scriptedServer(async ({ socket, next }) => {
      socket.write(frame(0, goHandshake));
      await next();
      socket.write(frame(2, Buffer.concat([hex('fe'), Buffer.from('caching_sha2_password\0'), GO_SEED, hex('00')])));
    });
    t.after(() => server.close());
    const stream = await streamTo(server.port);
    await assert.rejects(
      authenticate(stream, { user: 'u', password: 'p', target: 'x' }, 2000),
      (err: unknown) => err instanceof AuthenticationError && /caching_sha2_password/.test(err.message) && /mysql_native_password/.test(err.hint ?? ''),
    );
    stream.destroy();
  });

  it('reports an ERR in place of the handshake (too many connections) as a retryable ServerError', async (t) => {
    const server = await scriptedServer(async ({ socket }) => {
      socket.write(frame(0, Buffer.concat([hex('ff1004'), Buffer.from('Too many connections')])));
    });
    t.after(() => server.close());
    const stream = await streamTo(server.port);
    await assert.rejects(
      authenticate(stream, { user: 'u', password: 'p', target: 'x' }, 2000),
      (err: unknown) => err instanceof ServerError && err.errno === 1040 && err.retryable,
    );
    stream.destroy();
  });
});
