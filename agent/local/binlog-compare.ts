import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { BINLOG_MAGIC } from '../binlog/event-parser.js';
import type { ObjectStore } from '../ports/object-store.js';
import type { StateStore } from '../ports/state-store.js';
import type { ClusterState } from '../cluster/repo.js';
import { verifyCluster, type VerifyReport } from '../stream/verify.js';

/** File offset of the FORMAT_DESCRIPTION's flags (magic + 17 bytes of header). */
const FDE_FLAGS_OFFSET = 4 + 17;
/** LOG_EVENT_BINLOG_IN_USE_F: set in the file while the server writes it; cleared in what a dump sends. */
const BINLOG_IN_USE = 0x1;

/** Bytes of one binlog file rebuilt from its chunks, from `offset` on (0: the whole file, magic included). */
export interface RebuiltFile {
  offset: number;
  bytes: Buffer;
}

/**
 * Rebuilds each binlog file from the verified chunks: the magic, then the chunks in order. A
 * file whose first chunk starts past the magic (a timeline that began mid-file) is rebuilt from
 * that offset.
 */
export async function rebuildFiles(objects: ObjectStore, stateStore: StateStore, prefix: string, state: ClusterState): Promise<{ files: Map<string, RebuiltFile>; report: VerifyReport }> {
  const parts = new Map<string, { offset: number; bufs: Buffer[] }>();
  const report = await verifyCluster(objects, stateStore, prefix, state, (ref, body) => {
    if (!parts.has(ref.file)) parts.set(ref.file, ref.start === 4 ? { offset: 0, bufs: [BINLOG_MAGIC] } : { offset: ref.start, bufs: [] });
    parts.get(ref.file)!.bufs.push(body);
  });
  return { files: new Map([...parts].map(([f, p]) => [f, { offset: p.offset, bytes: Buffer.concat(p.bufs) }])), report };
}

export interface FileComparison {
  file: string;
  /** Where the rebuilt bytes begin in the file (0 unless the timeline began mid-file). */
  offset: number;
  /** The file offset just past the rebuilt bytes. */
  rebuiltBytes: number;
  serverBytes: number;
  /** First differing offset within the rebuilt length, or -1. */
  firstDifference: number;
}

/**
 * Compares rebuilt files with the server's files on disk, over the rebuilt length (the durable
 * end of the last file). The in-use flag of the FORMAT_DESCRIPTION of a file the server is still
 * writing is ignored: the server sets it in the file and clears it in what it sends.
 */
export async function compareWithServer(rebuilt: Map<string, RebuiltFile>, serverFiles: readonly string[]): Promise<FileComparison[]> {
  const out: FileComparison[] = [];
  for (const [file, { offset, bytes }] of rebuilt) {
    const path = serverFiles.find((p) => basename(p) === file);
    const disk = path ? await readFile(path) : Buffer.alloc(0);
    const a = Buffer.from(bytes);
    const b = Buffer.from(disk.subarray(offset, offset + a.length));
    if (offset === 0 && a.length > FDE_FLAGS_OFFSET && b.length > FDE_FLAGS_OFFSET) {
      a[FDE_FLAGS_OFFSET] = a[FDE_FLAGS_OFFSET]! & ~BINLOG_IN_USE;
      b[FDE_FLAGS_OFFSET] = b[FDE_FLAGS_OFFSET]! & ~BINLOG_IN_USE;
    }
    let firstDifference = a.length === b.length ? -1 : offset + Math.min(a.length, b.length);
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      if (a[i] !== b[i]) {
        firstDifference = offset + i;
        break;
      }
    }
    out.push({ file, offset, rebuiltBytes: offset + a.length, serverBytes: disk.length, firstDifference });
  }
  return out;
}
