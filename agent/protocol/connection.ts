/**
 * One authenticated client connection to a MariaDB/MySQL server over TCP: connect with a
 * timeout, run the connection phase, then text queries and raw commands. No TLS, no pooling:
 * the replication client needs exactly one socket whose bytes it controls.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { ConnectionError } from '../errors.js';
import { buildQuit, runQuery, type QueryResult } from './commands.js';
import { authenticate, type InitialHandshake } from './handshake.js';
import { PacketStream } from './packet-stream.js';

export interface ConnectOptions {
  host: string;
  port: number;
  user: string;
  password: string;
  /** Limit for connecting, authenticating and each setup query. @default 10000 */
  timeoutMs?: number;
  /** See PacketStreamOptions.highWaterMarkBytes. @default 8 MiB */
  highWaterMarkBytes?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;

function openSocket(host: string, port: number, timeoutMs: number, target: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ConnectionError(target, `timed out after ${timeoutMs} ms`, { hint: `Check that ${target} is reachable and the server is up.` }));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      socket.setNoDelay(true);
      socket.setKeepAlive(true, 30_000);
      resolve(socket);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const refused = err.code === 'ECONNREFUSED';
      reject(
        new ConnectionError(target, refused ? 'connection refused' : err.message, {
          cause: err,
          hint: refused ? `Is the server running and listening on ${target}?` : undefined,
        }),
      );
    });
  });
}

export class ServerConnection {
  private closed = false;

  private constructor(
    readonly packets: PacketStream,
    readonly handshake: InitialHandshake,
    /** `host:port` */
    readonly target: string,
    private readonly timeoutMs: number,
  ) {}

  /** Connects and authenticates; AuthenticationError on bad credentials, ConnectionError when unreachable. */
  static async open(opts: ConnectOptions): Promise<ServerConnection> {
    const target = `${opts.host}:${opts.port}`;
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const socket = await openSocket(opts.host, opts.port, timeoutMs, target);
    const packets = new PacketStream(socket, { target, highWaterMarkBytes: opts.highWaterMarkBytes });
    try {
      const handshake = await authenticate(packets, { user: opts.user, password: opts.password, target }, timeoutMs);
      return new ServerConnection(packets, handshake, target, timeoutMs);
    } catch (err) {
      packets.destroy();
      throw err;
    }
  }

  /** True for MariaDB servers (their version string says so). */
  get isMariaDb(): boolean {
    return /mariadb/i.test(this.handshake.serverVersion);
  }

  /** Runs one statement; rows come back as strings. */
  query(sql: string): Promise<QueryResult> {
    return runQuery(this.packets, sql, this.target, this.timeoutMs);
  }

  /** Sends a command payload as a new command (sequence id 0). */
  send(payload: Buffer): void {
    this.packets.resetSequence();
    this.packets.write(payload);
  }

  /** Sends a payload at sequence id 0 without disturbing the dump's sequence (a semi-sync reply). */
  sendAside(payload: Buffer): void {
    this.packets.writeAside(payload);
  }

  /** Reads the next packet's payload, waiting at most the setup timeout (or `timeoutMs`). */
  read(what: string, timeoutMs: number | undefined = this.timeoutMs): Promise<Buffer> {
    return this.packets.read(what, timeoutMs);
  }

  /** Sends COM_QUIT when the connection is idle (`polite`), then closes the socket. Idempotent. */
  close(polite = false): void {
    if (this.closed) return;
    this.closed = true;
    if (polite) {
      try {
        this.send(buildQuit());
        this.packets.end();
        return;
      } catch {
        // already broken: nothing to say goodbye to
      }
    }
    this.packets.destroy();
  }
}
