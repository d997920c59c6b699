/**
 * Connection phase: the server's Initial Handshake (protocol v10), our HandshakeResponse41, and
 * mysql_native_password, including an AuthSwitchRequest to it. No TLS.
 * https://mariadb.com/kb/en/connection/
 * https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase_packets_protocol_handshake_v10.html
 *
 * Where the docs are loose: the plugin name at the end of the handshake may lack its NUL (MySQL
 * bug #59453), and the second part of the seed is `max(13, authDataLength - 8)` bytes of which
 * the last is a NUL filler, not seed.
 */
import { createHash } from 'node:crypto';
import { AuthenticationError, ProtocolError, ServerError } from '../errors.js';
import { PacketReader } from './packet-reader.js';
import { PacketWriter } from './packet-writer.js';
import type { PacketStream } from './packet-stream.js';
import { isErrPacket, isOkPacket, parseErrPacket, ResponseHeader, ServerErrorCode } from './server-packets.js';

/** Capability flags. https://mariadb.com/kb/en/connection/#capabilities */
export enum Capability {
  /** MySQL: new (4.1+) password hashing; MariaDB calls this bit CLIENT_MYSQL. */
  LONG_PASSWORD = 1 << 0,
  /** Return all column flags. */
  LONG_FLAG = 1 << 2,
  /** A default database is sent in the handshake response. */
  CONNECT_WITH_DB = 1 << 3,
  /** 4.1 protocol: SQLSTATE in ERR packets, 4.1 column definitions. */
  PROTOCOL_41 = 1 << 9,
  /** The server reports transaction status. */
  TRANSACTIONS = 1 << 13,
  /** 4.1 authentication: a 20-byte seed, a length-prefixed auth response. */
  SECURE_CONNECTION = 1 << 15,
  /** The handshake names the authentication plugin; AuthSwitchRequest may follow. */
  PLUGIN_AUTH = 1 << 19,
  /** Connection attributes follow the plugin name. */
  CONNECT_ATTRS = 1 << 20,
  /** The auth response is a length-encoded string (may exceed 250 bytes). */
  PLUGIN_AUTH_LENENC_CLIENT_DATA = 1 << 21,
  /** EOF packets replaced by OK packets. Never requested here. */
  DEPRECATE_EOF = 1 << 24,
}

export const NATIVE_PASSWORD_PLUGIN = 'mysql_native_password';
/** utf8mb4_general_ci: known to MariaDB 10.x and MySQL 5.5+ alike. */
const CHARSET_UTF8MB4_GENERAL_CI = 45;
const MAX_PACKET_SIZE = 1024 * 1024 * 1024;

export interface InitialHandshake {
  protocolVersion: number;
  /** As sent; MariaDB 10.x prefixes `5.5.5-`. */
  serverVersion: string;
  connectionId: number;
  /** The 20-byte seed (scramble) for password authentication. */
  seed: Buffer;
  capabilities: number;
  characterSet: number;
  statusFlags: number;
  /** The plugin the server proposes, e.g. `mysql_native_password`; '' when not sent. */
  authPluginName: string;
}

/** Parses the Initial Handshake Packet (v10). An ERR packet in its place is a ServerError. */
export function parseInitialHandshake(payload: Buffer): InitialHandshake {
  const r = new PacketReader(payload, 'initial handshake');
  const protocolVersion = r.u8('protocol version');
  if (protocolVersion !== 10) {
    throw new ProtocolError(`unsupported protocol version ${protocolVersion}, expected 10`, { what: 'initial handshake', offset: 0 });
  }
  const serverVersion = r.nulString('server version');
  const connectionId = r.u32le('connection id');
  const seed1 = r.bytes(8, 'auth plugin data part 1');
  r.skip(1, 'filler');
  let capabilities = r.u16le('capability flags (lower)');
  let characterSet = 0;
  let statusFlags = 0;
  let seed2: Buffer = Buffer.alloc(0);
  let authPluginName = '';
  if (r.remaining > 0) {
    characterSet = r.u8('character set');
    statusFlags = r.u16le('status flags');
    capabilities = (capabilities | (r.u16le('capability flags (upper)') << 16)) >>> 0;
    const authDataLength = r.u8('auth plugin data length');
    r.skip(6, 'reserved');
    r.skip(4, 'MariaDB extended capabilities');
    if (capabilities & Capability.SECURE_CONNECTION) {
      const part2 = r.bytes(Math.max(13, authDataLength - 8), 'auth plugin data part 2');
      seed2 = part2.subarray(0, part2.length - 1); // last byte is a NUL filler
    }
    if (capabilities & Capability.PLUGIN_AUTH) {
      const rest = r.rest();
      const nul = rest.indexOf(0);
      authPluginName = rest.toString('utf8', 0, nul < 0 ? rest.length : nul);
    }
  }
  return {
    protocolVersion,
    serverVersion,
    connectionId,
    seed: Buffer.concat([seed1, seed2]),
    capabilities,
    characterSet,
    statusFlags,
    authPluginName,
  };
}

/** mysql_native_password: SHA1(password) XOR SHA1(seed + SHA1(SHA1(password))); empty for no password. */
export function scrambleNativePassword(password: string, seed: Buffer): Buffer {
  if (password === '') return Buffer.alloc(0);
  const sha1 = (...parts: Buffer[]) => {
    const h = createHash('sha1');
    for (const p of parts) h.update(p);
    return h.digest();
  };
  const stage1 = sha1(Buffer.from(password, 'utf8'));
  const stage2 = sha1(stage1);
  const mix = sha1(seed.subarray(0, 20), stage2);
  for (let i = 0; i < mix.length; i++) mix[i] = (mix[i] as number) ^ (stage1[i] as number);
  return mix;
}

/** The capabilities we ask for, given what the server offers. */
export function clientCapabilities(serverCapabilities: number): number {
  const required = Capability.PROTOCOL_41 | Capability.SECURE_CONNECTION;
  if ((serverCapabilities & required) !== required) {
    throw new ProtocolError('server lacks 4.1 protocol or secure authentication', { what: 'initial handshake' });
  }
  const wanted =
    Capability.LONG_PASSWORD |
    Capability.LONG_FLAG |
    Capability.PROTOCOL_41 |
    Capability.TRANSACTIONS |
    Capability.SECURE_CONNECTION |
    Capability.PLUGIN_AUTH |
    Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA;
  return (wanted & serverCapabilities) | required;
}

export interface HandshakeResponseInput {
  capabilities: number;
  user: string;
  authResponse: Buffer;
  authPluginName: string;
}

/** HandshakeResponse41. https://mariadb.com/kb/en/connection/#handshake-response-packet */
export function buildHandshakeResponse(input: HandshakeResponseInput): Buffer {
  const w = new PacketWriter()
    .u32le(input.capabilities)
    .u32le(MAX_PACKET_SIZE)
    .u8(CHARSET_UTF8MB4_GENERAL_CI)
    .zeros(19)
    .zeros(4) // MariaDB extended capabilities: none requested (reserved on MySQL)
    .nulString(input.user);
  if (input.capabilities & Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA) w.lenencBytes(input.authResponse);
  else w.u8(input.authResponse.length).bytes(input.authResponse);
  if (input.capabilities & Capability.PLUGIN_AUTH) w.nulString(input.authPluginName);
  return w.toBuffer();
}

export interface AuthSwitchRequest {
  pluginName: string;
  /** Plugin data; for mysql_native_password the 20-byte seed (a trailing NUL removed). */
  data: Buffer;
}

export function parseAuthSwitchRequest(payload: Buffer): AuthSwitchRequest {
  const r = new PacketReader(payload, 'auth switch request');
  if (r.u8('header') !== ResponseHeader.EOF) {
    throw new ProtocolError('not an auth switch request', { what: 'auth switch request', offset: 0 });
  }
  const pluginName = r.nulString('plugin name');
  let data = r.rest();
  if (data.length > 0 && data[data.length - 1] === 0) data = data.subarray(0, data.length - 1);
  return { pluginName, data };
}

export interface Credentials {
  user: string;
  password: string;
  /** `host:port`, for error messages. */
  target: string;
}

function authError(creds: Credentials, message: string, errno?: number): AuthenticationError {
  return new AuthenticationError(`${creds.user}@${creds.target}`, message, {
    hint:
      errno === ServerErrorCode.ER_ACCESS_DENIED_ERROR
        ? `Check the user name and password, and that '${creds.user}' may connect from this host ` +
          '(CREATE USER ... IDENTIFIED BY ...; GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO ...).'
        : `Give '${creds.user}' a mysql_native_password password (ALTER USER ... IDENTIFIED VIA mysql_native_password ` +
          "USING PASSWORD('...') on MariaDB, IDENTIFIED WITH mysql_native_password BY '...' on MySQL).",
  });
}

/**
 * Runs the connection phase on a fresh stream: reads the handshake, answers it, follows an
 * AuthSwitchRequest to mysql_native_password, and resolves with the handshake on OK.
 * Access denied (1045) becomes an AuthenticationError naming user@host:port.
 */
export async function authenticate(stream: PacketStream, creds: Credentials, timeoutMs?: number): Promise<InitialHandshake> {
  const first = await stream.read('initial handshake', timeoutMs);
  if (isErrPacket(first)) {
    const e = parseErrPacket(first);
    throw new ServerError(creds.target, 'connect', e.errno, e.sqlState, e.message);
  }
  const handshake = parseInitialHandshake(first);
  const capabilities = clientCapabilities(handshake.capabilities);
  stream.write(
    buildHandshakeResponse({
      capabilities,
      user: creds.user,
      authResponse: scrambleNativePassword(creds.password, handshake.seed),
      authPluginName: NATIVE_PASSWORD_PLUGIN,
    }),
  );
  for (let round = 0; round < 4; round++) {
    const reply = await stream.read('authentication result', timeoutMs);
    if (isOkPacket(reply)) return handshake;
    if (isErrPacket(reply)) {
      const e = parseErrPacket(reply);
      if (e.errno === ServerErrorCode.ER_ACCESS_DENIED_ERROR) throw authError(creds, e.message, e.errno);
      throw new ServerError(creds.target, 'authenticate', e.errno, e.sqlState, e.message);
    }
    if (reply[0] !== ResponseHeader.EOF) {
      throw authError(creds, `server asked for more authentication data (0x${(reply[0] ?? 0).toString(16)}); only mysql_native_password is supported`);
    }
    const sw = parseAuthSwitchRequest(reply);
    if (sw.pluginName !== NATIVE_PASSWORD_PLUGIN) {
      throw authError(creds, `server asked for authentication plugin '${sw.pluginName}'; only mysql_native_password is supported`);
    }
    stream.write(scrambleNativePassword(creds.password, sw.data));
  }
  throw new ProtocolError('authentication did not finish after 4 exchanges', { what: 'authentication' });
}
