/**
 * FORMAT_DESCRIPTION_EVENT (type 15): the first event of every binlog v4 file.
 * https://mariadb.com/kb/en/format_description_event/
 * https://dev.mysql.com/doc/dev/mysql-server/latest/classmysql_1_1binlog_1_1event_1_1Format__description__event.html
 *
 * Body: binlog_version u16, server_version char[50] (NUL-padded), create_timestamp u32,
 * header_length u8, post-header length u8 per event type, then, when the server knows checksums
 * (MySQL >= 5.6.1, MariaDB >= 5.3), checksum_alg u8 and the FDE's own 4-byte checksum field
 * (a real CRC32 only when checksum_alg is CRC32). Where the docs fall short: they show these 5 bytes
 * as always present (true only from the versions above: the servers decide by the version string,
 * and so do we), and do not say that the FDE's CRC32 is summed with the in-use flag clear (see
 * event-parser.ts).
 * The FDE is always written with a 19-byte header, whatever header_length it declares.
 */
import { ProtocolError } from '../errors.js';
import { PacketReader } from '../protocol/packet-reader.js';
import type { BinlogFormat, ChecksumAlgorithm } from './binlog-format.js';
import { HEADER_LENGTH_V4 } from './event-header.js';

const SERVER_VERSION_LENGTH = 50;
/** checksum_alg values (enum_binlog_checksum_alg). */
const CHECKSUM_ALG_OFF = 0;
const CHECKSUM_ALG_CRC32 = 1;
/** BINLOG_CHECKSUM_ALG_UNDEF: written by servers that know checksums when no algorithm was set. */
const CHECKSUM_ALG_UNDEF = 255;

export interface FormatDescription {
  binlogVersion: number;
  serverVersion: string;
  /** Seconds since the epoch when the file was created; 0 except in the server's first binlog after start. */
  createTimestamp: number;
  /** Common header length of every later event (19 unless a patched server said otherwise). */
  headerLength: number;
  /** Index = type code - 1. */
  postHeaderLengths: number[];
  checksum: ChecksumAlgorithm;
}

/** [major, minor, patch] from the start of a server version string, or undefined. */
export function parseServerVersion(version: string): [number, number, number] | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(version);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

function atLeast(v: [number, number, number], min: [number, number, number]): boolean {
  for (let i = 0; i < 3; i++) {
    if (v[i] !== min[i]) return (v[i] ?? 0) > (min[i] ?? 0);
  }
  return true;
}

/**
 * Whether a server of this version writes the checksum_alg byte in its FDE
 * (checksum_version_split in MySQL, checksum_version_split_mariadb in MariaDB).
 */
export function versionHasChecksumAlg(serverVersion: string): boolean {
  const v = parseServerVersion(serverVersion);
  if (!v) return false;
  return /mariadb/i.test(serverVersion) ? atLeast(v, [5, 3, 0]) : atLeast(v, [5, 6, 1]);
}

/** The NUL-padded char[50] server version of FORMAT_DESCRIPTION and START_V3. */
export function readServerVersion(r: PacketReader): string {
  const raw = r.bytes(SERVER_VERSION_LENGTH, 'server version');
  const nul = raw.indexOf(0);
  return raw.toString('latin1', 0, nul < 0 ? raw.length : nul);
}

/** Decodes a whole FORMAT_DESCRIPTION event (`bytes[0]` is its first header byte, at file offset `offset`). */
export function decodeFormatDescription(bytes: Buffer, offset: number): FormatDescription {
  const r = new PacketReader(bytes, 'FORMAT_DESCRIPTION event', offset, HEADER_LENGTH_V4);
  const binlogVersion = r.u16le('binlog version');
  if (binlogVersion !== 4) {
    throw new ProtocolError(`unsupported binlog version ${binlogVersion} in FORMAT_DESCRIPTION`, {
      what: 'FORMAT_DESCRIPTION event',
      offset,
    });
  }
  const serverVersion = readServerVersion(r);
  const createTimestamp = r.u32le('create timestamp');
  const headerLength = r.u8('header length');
  if (headerLength < HEADER_LENGTH_V4) {
    throw new ProtocolError(`FORMAT_DESCRIPTION declares a ${headerLength}-byte event header (minimum 19)`, {
      what: 'FORMAT_DESCRIPTION event',
      offset,
    });
  }
  const hasAlg = versionHasChecksumAlg(serverVersion);
  const lengthsCount = r.remaining - (hasAlg ? 5 : 0);
  const postHeaderLengths = [...r.bytes(lengthsCount, 'post-header lengths')];
  let checksum: ChecksumAlgorithm = 'n/a';
  if (hasAlg) {
    const alg = r.u8('checksum algorithm');
    if (alg === CHECKSUM_ALG_CRC32) checksum = 'CRC32';
    else if (alg === CHECKSUM_ALG_OFF || alg === CHECKSUM_ALG_UNDEF) checksum = 'NONE';
    else {
      throw new ProtocolError(`unknown checksum algorithm ${alg} in FORMAT_DESCRIPTION`, {
        what: 'FORMAT_DESCRIPTION event',
        offset,
      });
    }
  }
  return { binlogVersion, serverVersion, createTimestamp, headerLength, postHeaderLengths, checksum };
}

/** The format every later event of the file is read with. */
export function formatFromDescription(fde: FormatDescription): BinlogFormat {
  return {
    binlogVersion: fde.binlogVersion,
    serverVersion: fde.serverVersion,
    headerLength: fde.headerLength,
    postHeaderLengths: fde.postHeaderLengths,
    checksum: fde.checksum,
  };
}
