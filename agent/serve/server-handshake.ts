/**
 * The server side of the connection phase: the Initial Handshake (protocol v10) the fake primary
 * sends, the client's HandshakeResponse41, and a mysql_native_password check (with an
 * AuthSwitchRequest when the client proposed another plugin). No TLS. The client side of the same
 * exchange, and the scramble, are in agent/protocol/handshake.ts.
 * https://mariadb.com/kb/en/connection/
 *
 * Where the docs are loose: the 4 bytes after the 6 reserved ones are MariaDB's extended capabilities
 * only when the server clears CLIENT_MYSQL (bit 0); the fake primary sets it, so MariaDB clients
 * treat it as a MySQL-compatible server and send (and expect) no extended capabilities there.
 */
import { randomInt, timingSafeEqual } from 'node:crypto';
import { ProtocolError } from '../errors.js';
import { Capability, NATIVE_PASSWORD_PLUGIN, scrambleNativePassword } from '../protocol/handshake.js';
import { PacketReader } from '../protocol/packet-reader.js';
import { PacketWriter } from '../protocol/packet-writer.js';
import type { PacketStream } from '../protocol/packet-stream.js';
import { ResponseHeader } from '../protocol/server-packets.js';
import { buildErr, buildOk, ServerStatus } from './responses.js';
import { ServerErrorCode } from '../protocol/server-packets.js';

/** CLIENT_SSL: the client wants TLS before the response. Never offered here. */
const CAPABILITY_SSL = 1 << 11;
/** utf8mb4_general_ci. */
const CHARSET_UTF8MB4 = 45;
const SEED_LENGTH = 20;

/** What the fake primary offers; the client picks a subset. */
export const SERVER_CAPABILITIES =
  Capability.LONG_PASSWORD |
  Capability.LONG_FLAG |
  Capability.CONNECT_WITH_DB |
  Capability.PROTOCOL_41 |
  Capability.TRANSACTIONS |
  Capability.SECURE_CONNECTION |
  Capability.PLUGIN_AUTH |
  Capability.CONNECT_ATTRS |
  Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA;

/** A seed of printable characters without NUL, like the server's (some clients stop at a NUL). */
export function newSeed(): Buffer {
  const seed = Buffer.alloc(SEED_LENGTH);
  for (let i = 0; i < SEED_LENGTH; i++) seed[i] = randomInt(33, 127);
  return seed;
}

export interface HandshakeInput {
  /** As sent; MariaDB 10+ versions go out as `5.5.5-<version>` so that old clients parse them. */
  serverVersion: string;
  connectionId: number;
  seed: Buffer;
}

/** The Initial Handshake Packet (v10). */
export function buildInitialHandshake(input: HandshakeInput): Buffer {
  if (input.seed.length !== SEED_LENGTH) throw new ProtocolError(`seed must be ${SEED_LENGTH} bytes`, { what: 'initial handshake' });
  return new PacketWriter()
    .u8(10) // protocol version
    .nulString(input.serverVersion)
    .u32le(input.connectionId)
    .bytes(input.seed.subarray(0, 8))
    .u8(0) // filler
    .u16le(SERVER_CAPABILITIES & 0xffff)
    .u8(CHARSET_UTF8MB4)
    .u16le(ServerStatus.AUTOCOMMIT)
    .u16le(SERVER_CAPABILITIES >>> 16)
    .u8(SEED_LENGTH + 1) // auth plugin data length, with the NUL filler
    .zeros(6) // reserved
    .zeros(4) // MariaDB extended capabilities: none (CLIENT_MYSQL is set)
    .bytes(input.seed.subarray(8))
    .u8(0) // the seed's NUL filler: max(13, length - 8) bytes in all
    .nulString(NATIVE_PASSWORD_PLUGIN)
    .toBuffer();
}

export interface HandshakeResponse {
  capabilities: number;
  user: string;
  authResponse: Buffer;
  database: string;
  /** '' when the client sent none (then mysql_native_password is assumed). */
  authPluginName: string;
}

/** Parses HandshakeResponse41. https://mariadb.com/kb/en/connection/#handshake-response-packet */
export function parseHandshakeResponse(payload: Buffer): HandshakeResponse {
  const r = new PacketReader(payload, 'handshake response');
  const capabilities = r.u32le('capabilities');
  if (!(capabilities & Capability.PROTOCOL_41)) {
    throw new ProtocolError('client does not speak protocol 4.1', { what: 'handshake response', offset: 0 });
  }
  r.u32le('max packet size');
  r.u8('character set');
  r.skip(19, 'reserved');
  r.skip(4, 'MariaDB extended capabilities');
  if (capabilities & CAPABILITY_SSL && r.remaining === 0) {
    throw new ProtocolError('client asked for TLS, which the fake primary does not offer', { what: 'handshake response' });
  }
  const user = r.nulString('user');
  let authResponse: Buffer;
  if (capabilities & Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA) authResponse = r.bytes(r.lenencInt('auth response length'), 'auth response');
  else if (capabilities & Capability.SECURE_CONNECTION) authResponse = r.bytes(r.u8('auth response length'), 'auth response');
  else authResponse = Buffer.from(r.nulString('auth response'), 'utf8');
  const database = capabilities & Capability.CONNECT_WITH_DB && r.remaining > 0 ? r.nulString('database') : '';
  let authPluginName = '';
  if (capabilities & Capability.PLUGIN_AUTH && r.remaining > 0) {
    const rest = r.rest();
    const nul = rest.indexOf(0);
    authPluginName = rest.toString('utf8', 0, nul < 0 ? rest.length : nul); // the NUL may be missing
  }
  return { capabilities, user, authResponse, database, authPluginName };
}

/** Whether `response` is the mysql_native_password scramble of `password` with `seed`. */
export function nativePasswordMatches(password: string, seed: Buffer, response: Buffer): boolean {
  const expected = scrambleNativePassword(password, seed);
  return expected.length === response.length && timingSafeEqual(expected, response);
}

/** AuthSwitchRequest to mysql_native_password with a (new) seed. https://mariadb.com/kb/en/connection/#authentication-switch-request */
export function buildAuthSwitchRequest(seed: Buffer): Buffer {
  return new PacketWriter().u8(ResponseHeader.EOF).nulString(NATIVE_PASSWORD_PLUGIN).bytes(seed).u8(0).toBuffer();
}

export interface ServerAuthOptions {
  user: string;
  password: string;
  serverVersion: string;
  connectionId: number;
  /** The client's address, for the access-denied message. */
  clientHost: string;
  timeoutMs: number;
}

export type AuthOutcome = { ok: true; response: HandshakeResponse } | { ok: false; user: string; reason: string };

/**
 * Runs the connection phase on a freshly accepted connection. Sends OK and resolves `ok` when the
 * client presented the configured user and password; otherwise sends the access-denied ERR a
 * MariaDB server sends and resolves not ok (the caller closes the connection).
 */
export async function acceptClient(stream: PacketStream, opts: ServerAuthOptions): Promise<AuthOutcome> {
  let seed = newSeed();
  stream.write(buildInitialHandshake({ serverVersion: opts.serverVersion, connectionId: opts.connectionId, seed }));
  const response = parseHandshakeResponse(await stream.read('handshake response', opts.timeoutMs));
  let authResponse = response.authResponse;
  if (response.authPluginName !== '' && response.authPluginName !== NATIVE_PASSWORD_PLUGIN) {
    seed = newSeed();
    stream.write(buildAuthSwitchRequest(seed));
    authResponse = await stream.read('auth switch response', opts.timeoutMs);
  }
  const ok = response.user === opts.user && nativePasswordMatches(opts.password, seed, authResponse);
  if (!ok) {
    const using = authResponse.length > 0 ? 'YES' : 'NO';
    stream.write(buildErr(ServerErrorCode.ER_ACCESS_DENIED_ERROR, '28000', `Access denied for user '${response.user}'@'${opts.clientHost}' (using password: ${using})`));
    return { ok: false, user: response.user, reason: response.user === opts.user ? 'wrong password' : 'unknown user' };
  }
  stream.write(buildOk());
  return { ok: true, response };
}
