/**
 * TRANSACTION_PAYLOAD_EVENT (type 40, MySQL 8.0.20+ binlog_transaction_compression): a whole
 * transaction's events, compressed, in one event.
 * https://dev.mysql.com/doc/dev/mysql-server/latest/classmysql_1_1binlog_1_1event_1_1Transaction__payload__event.html
 *
 * Body: a header of (lenenc field_type, lenenc value_length, lenenc value)* ended by field type 0,
 * then the payload. Field types: 1 payload size, 2 compression type (0 ZSTD, 255 NONE),
 * 3 uncompressed size; unknown types are skipped by their length. The payload is one zstd frame
 * holding the transaction's events back to back, each a complete v4 event with a 19-byte header,
 * log_pos 0 and no checksum of its own, whatever binlog_checksum says (the outer event's CRC32
 * covers them; checked against the fixtures, the docs do not say).
 */
import { decompress } from 'fzstd';
import { ProtocolError } from '../errors.js';
import { bodyReader, describeEvent, type RawEvent } from './raw-event.js';

const Field = { END: 0, PAYLOAD_SIZE: 1, COMPRESSION_TYPE: 2, UNCOMPRESSED_SIZE: 3 } as const;
const COMPRESSION_ZSTD = 0;
const COMPRESSION_NONE = 255;
/** An uncompressed transaction larger than this is refused rather than allocated. */
export const MAX_UNCOMPRESSED_PAYLOAD_BYTES = 1024 * 1024 * 1024;

export interface TransactionPayloadEvent {
  compression: 'ZSTD' | 'NONE';
  uncompressedSize: number;
  /** The payload as stored (compressed unless `compression` is NONE). */
  payload: Buffer;
}

export function decodeTransactionPayload(ev: RawEvent): TransactionPayloadEvent {
  const r = bodyReader(ev);
  const fail = (message: string): never => {
    throw new ProtocolError(message, { what: describeEvent(ev), offset: ev.offset });
  };
  let payloadSize: number | undefined;
  let compressionType: number | undefined;
  let uncompressedSize = 0;
  for (;;) {
    const field = r.lenencInt('field type');
    if (field === Field.END) break;
    const length = r.lenencInt('field length');
    if (field === Field.PAYLOAD_SIZE) payloadSize = r.lenencInt('payload size');
    else if (field === Field.COMPRESSION_TYPE) compressionType = r.lenencInt('compression type');
    else if (field === Field.UNCOMPRESSED_SIZE) uncompressedSize = r.lenencInt('uncompressed size');
    else r.skip(length, `field ${field}`);
  }
  if (payloadSize === undefined || compressionType === undefined) return fail('payload header lacks its size or compression type');
  if (compressionType !== COMPRESSION_ZSTD && compressionType !== COMPRESSION_NONE) {
    return fail(`unknown compression type ${compressionType}`);
  }
  const payload = r.bytes(payloadSize, 'payload');
  const compression = compressionType === COMPRESSION_ZSTD ? 'ZSTD' : 'NONE';
  if (compression === 'NONE') uncompressedSize = payload.length;
  return { compression, uncompressedSize, payload };
}

/** The transaction's events, back to back, decompressed. */
export function decompressPayload(ev: RawEvent, tp: TransactionPayloadEvent): Buffer {
  if (tp.compression === 'NONE') return tp.payload;
  if (tp.uncompressedSize > MAX_UNCOMPRESSED_PAYLOAD_BYTES) {
    throw new ProtocolError(`uncompressed size ${tp.uncompressedSize} exceeds ${MAX_UNCOMPRESSED_PAYLOAD_BYTES}`, {
      what: describeEvent(ev),
      offset: ev.offset,
    });
  }
  let out: Uint8Array;
  try {
    out = decompress(tp.payload, new Uint8Array(tp.uncompressedSize));
  } catch (err) {
    throw new ProtocolError('cannot decompress zstd payload', { what: describeEvent(ev), offset: ev.offset }, { cause: err });
  }
  if (out.length !== tp.uncompressedSize) {
    throw new ProtocolError(`payload decompressed to ${out.length} bytes, header says ${tp.uncompressedSize}`, {
      what: describeEvent(ev),
      offset: ev.offset,
    });
  }
  return Buffer.from(out.buffer, out.byteOffset, out.length);
}
