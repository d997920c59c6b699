import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import mysql from 'mysql2/promise';
import { parseMysqlUrl } from '../config.js';
import { BackupIncompleteError, FencedError, ProcessError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ObjectStore } from '../ports/object-store.js';
import { Progress } from '../progress.js';
import { sleep } from '../retry.js';
import { sha256Hex } from '../store/bytes.js';
import type { ClusterStateRepo } from '../cluster/repo.js';
import { clientOptionFile, clientTargetFromUrl } from '../tools/client-options.js';
import { Meter } from '../tools/meter.js';
import { ToolProcess, toolVersion } from '../tools/tool-process.js';
import { compareFilePos } from './binlog-order.js';
import { DumpPositionScanner, parseMariabackupLine } from './consistency-point.js';
import { backupDataKey, manifestKey, newBackupId, type BackupManifest, type BackupPosition } from './manifest.js';

/**
 * Parts of the backup object uploading at once: with one, zstd (and behind it the tool) waits
 * for every part's round trip; four keep the pipe moving for 32 MiB of memory.
 */
const PARTS_IN_FLIGHT = 4;

/**
 * Takes a base backup and stores it under `…/<clusterId>/base/<backupId>/`:
 *   physical: `mariabackup --backup --stream=mbstream` (needs the server's datadir on this host)
 *   logical:  `mariadb-dump --single-transaction --gtid --master-data=2 --all-databases`
 * The tool's output goes into `zstd`, and zstd's output is uploaded as it is produced
 * (multipart): never whole on disk or in memory. mariabackup writes straight into zstd (a pipe
 * between the two; zstd reports the byte count at its end, and progress reads it on the way);
 * a dump goes through this process, which reads its position comment on the way.
 *
 * The backup is complete only once the binlog up to its consistency point is durable (the state
 * item's durable position has passed it), because a restore replays the chunks from there. Only
 * then is `manifest.json` written; it is written last, so a backup without one is incomplete.
 */
export interface BaseBackupDeps {
  objects: ObjectStore;
  state: ClusterStateRepo;
  prefix: string;
  clusterId: string;
  mysqlUrl: string;
  log: Logger;
  now?: () => number;
}

export interface BaseBackupOptions {
  kind: 'physical' | 'logical';
  /** How long to wait for the durable position to pass the backup's. @default 300000 */
  durableTimeoutMs?: number;
  /** zstd level. @default 3 */
  zstdLevel?: number;
  /** zstd worker threads (0: one per core). @default 0 */
  zstdThreads?: number;
  /** Show progress (a terminal line on stderr, else log lines). @default true */
  progress?: boolean;
  /** Aborting it ends the backup: the tools are killed and the backup fails without a manifest. */
  signal?: AbortSignal;
}

export interface ServerFacts {
  datadir: string;
  version: string;
  serverId: number;
  /** A guess of the tool's output size, for percent and ETA. */
  estimateBytes: number;
}

async function serverFacts(url: string, kind: BaseBackupOptions['kind']): Promise<ServerFacts> {
  const conn = await mysql.createConnection({ ...parseMysqlUrl(url), supportBigNumbers: true });
  try {
    const [rows] = await conn.query('SELECT @@datadir AS datadir, @@version AS version, @@server_id AS serverId');
    const r = (rows as { datadir: string; version: string; serverId: number }[])[0]!;
    let estimateBytes: number;
    if (kind === 'physical') {
      estimateBytes = await datadirBytes(r.datadir);
    } else {
      const [sizes] = await conn.query('SELECT COALESCE(SUM(data_length), 0) AS bytes FROM information_schema.tables');
      estimateBytes = Number((sizes as { bytes: number | string }[])[0]!.bytes);
    }
    return { datadir: r.datadir, version: r.version, serverId: Number(r.serverId), estimateBytes };
  } finally {
    await conn.end().catch(() => undefined);
  }
}

/** Bytes of the files mariabackup copies: the datadir without binlogs. */
async function datadirBytes(dir: string): Promise<number> {
  let total = 0;
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile() && !/-bin\.(\d+|index)$/.test(e.name)) total += (await stat(p).catch(() => ({ size: 0 }))).size;
    }
  };
  await walk(dir);
  return total;
}

/** The input size from zstd's summary line at -vv: `/*stdin*\\ : 36.24% (1500000001 B => 543598302 B, /*stdout*\\)`. */
export function parseZstdSummary(line: string): number | undefined {
  const m = /\((\d+) B =>\s*\d+ B\b/.exec(line);
  return m ? Number(m[1]) : undefined;
}

/**
 * Hands `onRead` how many bytes a tool has read so far (Linux: `rchar` of /proc/<pid>/io), once a
 * second: progress for a pipe this process does not see. Elsewhere it reports nothing.
 */
function watchBytesRead(tool: ToolProcess, onRead: (bytes: number) => void): NodeJS.Timeout {
  const timer = setInterval(() => {
    readFile(`/proc/${tool.child.pid}/io`, 'utf8')
      .then((text) => {
        const read = /^rchar:\s*(\d+)/m.exec(text)?.[1];
        if (read) onRead(Number(read));
      })
      .catch(() => undefined);
  }, 1000);
  timer.unref();
  return timer;
}

/** Waits until the durable position (same epoch) is at or past `position`. */
export async function waitDurable(
  state: ClusterStateRepo,
  epoch: number,
  position: BackupPosition,
  opts: { timeoutMs: number; backupId: string; pollMs?: number; signal?: AbortSignal },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    if (opts.signal?.aborted) throw new BackupIncompleteError(opts.backupId, 'stopped while waiting for its binlog position to be durable');
    const s = await state.read();
    if (s && s.epoch !== epoch) throw new FencedError(s.clusterId, epoch, s.epoch, { hint: 'The cluster failed over while the backup ran; take a new backup on the new primary.' });
    const d = s?.durable;
    if (d && d.epoch === epoch && compareFilePos({ file: d.file, pos: d.end }, position) >= 0) return;
    if (Date.now() > deadline) {
      throw new BackupIncompleteError(opts.backupId, `the durable position (${d ? `${d.file}:${d.end}` : 'none'}) did not reach the backup's binlog position ${position.file}:${position.pos} within ${opts.timeoutMs} ms`, {
        hint: 'Is `squirrel agent` running and streaming this cluster? The backup is kept without a manifest (unusable); run the backup again once the agent is streaming.',
      });
    }
    await sleep(opts.pollMs ?? 200, opts.signal);
  }
}

function toolArgs(kind: BaseBackupOptions['kind'], optionFile: string, datadir: string, targetDir: string): { command: string; args: string[] } {
  if (kind === 'physical') {
    return {
      command: 'mariabackup',
      args: [`--defaults-extra-file=${optionFile}`, '--backup', '--stream=mbstream', `--datadir=${datadir}`, `--target-dir=${targetDir}`],
    };
  }
  return {
    command: 'mariadb-dump',
    args: [
      `--defaults-extra-file=${optionFile}`,
      '--single-transaction',
      '--gtid',
      '--master-data=2',
      '--all-databases',
      '--routines',
      '--events',
      '--triggers',
      '--hex-blob',
    ],
  };
}

/**
 * An id no stored backup has: ids name their start second, so a second backup started in the same
 * second takes a suffix (`-2`, `-3`…). Two started at once by different processes can still race;
 * the write-once upload then refuses the loser with ObjectExistsError.
 */
async function freeBackupId(deps: BaseBackupDeps, startedMs: number, kind: BaseBackupOptions['kind']): Promise<string> {
  for (let n = 1; ; n++) {
    const id = newBackupId(startedMs, kind, n === 1 ? '' : `-${n}`);
    const taken = await Promise.all([deps.objects.head(backupDataKey(deps.prefix, deps.clusterId, id, kind)), deps.objects.head(manifestKey(deps.prefix, deps.clusterId, id))]);
    if (taken.every((o) => o === undefined)) return id;
  }
}

/** Takes one base backup; returns its manifest once complete (see the module comment). */
export async function takeBaseBackup(deps: BaseBackupDeps, opts: BaseBackupOptions): Promise<BackupManifest> {
  const now = deps.now ?? Date.now;
  const { log } = deps;
  const cluster = await deps.state.read();
  if (!cluster) {
    throw new BackupIncompleteError('(none)', `cluster ${deps.clusterId} has no state item`, {
      hint: 'Start `squirrel agent` for this cluster first: a base backup is only usable with the binlog streamed after it.',
    });
  }
  const epoch = cluster.epoch;
  const facts = await serverFacts(deps.mysqlUrl, opts.kind);
  const startedMs = now();
  const id = await freeBackupId(deps, startedMs, opts.kind);
  const dataKey = backupDataKey(deps.prefix, deps.clusterId, id, opts.kind);
  const tool = toolArgs(opts.kind, '', '', '').command;
  const [toolVer, zstdVer] = await Promise.all([toolVersion(tool), toolVersion('zstd')]);
  log.info({ backupId: id, kind: opts.kind, key: dataKey, estimateBytes: facts.estimateBytes }, 'base backup: starting');

  const option = clientOptionFile(clientTargetFromUrl(deps.mysqlUrl));
  const targetDir = await mkdtemp(join(tmpdir(), 'sq-backup-'));
  let position: BackupPosition | undefined;
  let consistentMs: number | undefined;
  const scanner = new DumpPositionScanner();
  const { command, args } = toolArgs(opts.kind, option.path, facts.datadir, join(targetDir, 'target'));
  const producer = ToolProcess.start(command, args, {
    stdin: 'ignore',
    onStderrLine: (line) => {
      const p = opts.kind === 'physical' ? parseMariabackupLine(line) : undefined;
      if (p) {
        position = p;
        consistentMs = now();
      }
    },
  });
  const direct = opts.kind === 'physical';
  let zstdInputBytes: number | undefined;
  const zstd = ToolProcess.start('zstd', [direct ? '-vv' : '-q', '-c', `-${opts.zstdLevel ?? 3}`, `-T${opts.zstdThreads ?? 0}`], {
    stdin: direct ? producer : 'pipe',
    onStderrLine: (line) => (zstdInputBytes = parseZstdSummary(line) ?? zstdInputBytes),
  });
  const progress = opts.progress === false ? undefined : new Progress({ label: `backup ${id}`, totalBytes: facts.estimateBytes, log });
  const meter = direct ? undefined : new Meter({ onBytes: (n) => progress?.add(n), onLine: (line: string) => scanner.line(line, now()) });
  const watcher = direct && progress ? watchBytesRead(zstd, (read) => progress.set(read)) : undefined;
  let stored: { sizeBytes: number; sha256: string };
  const stop = () => void Promise.all([producer.kill(), zstd.kill()]);
  opts.signal?.addEventListener('abort', stop, { once: true });
  if (opts.signal?.aborted) stop();
  try {
    const results = await Promise.allSettled([
      producer.done,
      zstd.done,
      deps.objects.putStreamIfAbsent(dataKey, zstd.stdout, { 'backup-id': id, kind: opts.kind, encoding: 'zstd' }, { partsInFlight: PARTS_IN_FLIGHT }),
      meter ? pipeline(producer.stdout, meter, zstd.stdin) : Promise.resolve(),
    ]);
    // the tool's own failure explains the others (a broken pipe, a short upload)
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    stored = (results[2] as PromiseFulfilledResult<{ sizeBytes: number; sha256: string }>).value;
    if (direct && zstdInputBytes !== undefined) progress?.set(zstdInputBytes);
  } catch (err) {
    await Promise.all([producer.kill(), zstd.kill()]);
    await deps.objects.delete(dataKey).catch(() => undefined);
    throw err;
  } finally {
    if (watcher) clearInterval(watcher);
    opts.signal?.removeEventListener('abort', stop);
    option.cleanup();
    await rm(targetDir, { recursive: true, force: true });
    progress?.done();
  }
  if (opts.kind === 'logical') {
    position = scanner.position;
    // the time the snapshot's position line reached us, never the command's start (consistency-point.ts)
    consistentMs = scanner.consistentMs;
  }
  if (!position || consistentMs === undefined) {
    await deps.objects.delete(dataKey).catch(() => undefined);
    throw new ProcessError(command, 'finished without reporting its binlog position', {
      hint: opts.kind === 'physical' ? 'Is binary logging enabled on the server (log_bin=ON)?' : 'Is binary logging enabled, and does the user have the RELOAD and BINLOG MONITOR privileges (--master-data)?',
    });
  }
  const rawSizeBytes = meter ? meter.bytes : zstdInputBytes;
  if (rawSizeBytes === undefined) {
    await deps.objects.delete(dataKey).catch(() => undefined);
    throw new ProcessError('zstd', 'finished without reporting how many bytes it compressed', {
      hint: `squirrel reads the size from zstd's summary line at -vv ("(N B => M B"); zstd ${zstdVer || '(unknown version)'} did not print one (zstd 1.5.4, Debian 12's, does).`,
    });
  }
  const finishedMs = now();
  log.info({ backupId: id, position, sizeBytes: stored.sizeBytes, rawSizeBytes }, 'base backup: stored; waiting for its binlog position to be durable');
  await waitDurable(deps.state, epoch, position, { timeoutMs: opts.durableTimeoutMs ?? 300_000, backupId: id, ...(opts.signal ? { signal: opts.signal } : {}) });

  const manifest: BackupManifest = {
    version: 1,
    id,
    clusterId: deps.clusterId,
    kind: opts.kind,
    epoch,
    startedAt: new Date(startedMs).toISOString(),
    finishedAt: new Date(finishedMs).toISOString(),
    consistentAt: new Date(consistentMs).toISOString(),
    completedAt: new Date(now()).toISOString(),
    binlog: position,
    object: {
      key: dataKey,
      sizeBytes: stored.sizeBytes,
      sha256: stored.sha256,
      compression: 'zstd',
      format: opts.kind === 'physical' ? 'mbstream' : 'sql',
      rawSizeBytes,
    },
    server: { version: facts.version, serverId: facts.serverId, datadir: facts.datadir },
    tools: { [command]: toolVer, zstd: zstdVer },
  };
  const body = Buffer.from(JSON.stringify(manifest, null, 2));
  await deps.objects.putIfAbsent(manifestKey(deps.prefix, deps.clusterId, id), body, sha256Hex(body), { 'backup-id': id });
  log.info({ backupId: id, binlog: position }, 'base backup: complete');
  return manifest;
}
