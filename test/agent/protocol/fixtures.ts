/**
 * Wire captures and a scripted server for the protocol tests. The captures are the examples on
 * MariaDB's protocol pages (mariadb-docs server/reference/clientserver-protocol/replication-protocol/
 * 5-replica-registration.md, CC BY-SA), whose CRC32s were checked independently.
 */
import { createServer, type Server, type Socket } from 'node:net';

/** Bytes from hex, ignoring whitespace. */
export function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}

/** Splits framed packets into their payloads (test-side framing, independent of PacketFramer). */
export function unframe(bytes: Buffer): { seq: number; payload: Buffer }[] {
  const out: { seq: number; payload: Buffer }[] = [];
  for (let i = 0; i < bytes.length; ) {
    const length = bytes.readUIntLE(i, 3);
    out.push({ seq: bytes[i + 3] as number, payload: bytes.subarray(i + 4, i + 4 + length) });
    i += 4 + length;
  }
  return out;
}

/** Frames one payload as a single packet (payload < 16 MiB). */
export function frame(seq: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header.writeUIntLE(payload.length, 0, 3);
  header[3] = seq;
  return Buffer.concat([header, payload]);
}

/**
 * A TCP server on 127.0.0.1 that hands each connection to `script`. The script reads whole
 * packets the client sent (`next()`) and writes raw bytes back.
 */
export async function scriptedServer(
  script: (conn: { socket: Socket; next: () => Promise<{ seq: number; payload: Buffer }> }) => Promise<void>,
): Promise<{ port: number; close: () => Promise<void>; errors: unknown[] }> {
  const errors: unknown[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffered = Buffer.alloc(0);
    let wake: (() => void) | undefined;
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      wake?.();
    });
    const next = async (): Promise<{ seq: number; payload: Buffer }> => {
      for (;;) {
        if (buffered.length >= 4) {
          const length = buffered.readUIntLE(0, 3);
          if (buffered.length >= 4 + length) {
            const packet = { seq: buffered[3] as number, payload: Buffer.from(buffered.subarray(4, 4 + length)) };
            buffered = buffered.subarray(4 + length);
            return packet;
          }
        }
        await new Promise<void>((resolve) => (wake = resolve));
      }
    };
    script({ socket, next }).catch((err: unknown) => errors.push(err));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    errors,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Initial Handshake of MariaDB 10.2.10 (framed, sequence id 0). */
export const DOC_HANDSHAKE_PACKET = hex(
  [
    '5d0000000a352e352e352d31302e322e31302d4d6172696144422d6c6f670022',
    '0000007d2e6a4f2c2c366a00fef7080200bf8115000000000000070000003874',
    '6064545944283824487c006d7973716c5f6e61746976655f70617373776f7264',
    '00',
  ].join(''),
);

/** The answer to `SELECT @master_binlog_checksum` (five framed packets): one column, one row 'CRC32'. */
export const DOC_CHECKSUM_RESULTSET = hex(
  [
    '01000001012d0000020364656600000017406d61737465725f62696e6c6f675f',
    '636865636b73756d000c0800ffffff00fa000027000005000003fe0000020006',
    '00000405435243333205000005fe00000200',
  ].join(''),
);

/**
 * The first seven packets of a GTID-mode dump from MariaDB 10.2.10 with CRC32 (sequence ids 1-7):
 * fake ROTATE, FORMAT_DESCRIPTION (4..256), GTID_LIST (256..315), BINLOG_CHECKPOINT (315..358),
 * fake GTID_LIST (log_pos 1588), GTID (1588..1630), QUERY "flush tables" (1630..1705).
 */
export const DOC_DUMP_STREAM = hex(
  [
    '30000001000000000004d92700002f0000000000000020000400000000000000',
    '6d7973716c2d62696e2e303030303334d53fead7fd00000200fbcc375a0fd927',
    '0000fc000000000100000000040031302e322e31302d4d6172696144422d6c6f',
    '6700000000000000000000000000000000000000000000000000000000000000',
    '0000000013380d000800120004040404120000e400041a080000000808080200',
    '00000a0a0a000000000000000000000000000000000000000000000000000000',
    '0000000000000000000000000000000000000000000000000000000000000000',
    '0000000000000000000000000000000000000000000000000000000000000000',
    '0000000000000000000000000000000000000000000000000000000000000000',
    '0000000000041304000d0808080a0a0a01170b12633c00000300fbcc375aa3d9',
    '2700003b0000003b01000000000200000000000000010000001e000000000000',
    '0000000000d92700008626000000000000b6338a222c00000400fbcc375aa1d9',
    '2700002b000000660100000000100000006d7973716c2d62696e2e3030303033',
    '34161ffe3f2c0000050000000000a3d92700002b000000340600002000010000',
    '0000000000d92700008c260000000000004a0194222b0000060094fd385aa2d9',
    '2700002a0000005e06000008008d260000000000000000000029000000000000',
    '2287c0614c0000070094fd385a02d92700004b000000a9060000000021000000',
    '000000000000001a000000000000010000205400000000060373746404080008',
    '00080000666c757368207461626c65736ec88960',
  ].join(''),
);
