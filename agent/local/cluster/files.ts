import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../../config.js';

/**
 * The files of a local cluster's directory, shared by the control process (daemon.ts) and the
 * commands that talk to it (cluster.ts):
 * - `cluster.json`: what `up` asked for and what the control process reports (pids, ports, ready);
 * - `env`: the variables that point squirrel and clients at the cluster;
 * - `compute.json`: the instances (compute.ts); `instances/<id>/`: each instance's files;
 * - `control.log`: the control process's own log; `timeline.log`: what happened, one JSON line
 *   per event; `notifications.log`: what the notifier published.
 */
export interface ClusterFile {
  clusterId: string;
  /** The endpoint's port (fixed: clients keep using it across failovers). */
  endpointPort: number;
  /** root's password on every instance; the application account's name and password. */
  rootPassword: string;
  app: { user: string; password: string };
  /** The agents' lease (ms): how long a live but silent primary holds the cluster. */
  leaseMs: number;
  /**
   * Lossless mode of every instance, the first and each replacement: its agent's `lossless`, and
   * its server's semi-sync master (agent/instance/semi-sync.ts). Absent in a cluster.json written
   * before it existed: off.
   */
  lossless?: Config['lossless'];
  /** The control process, once started. */
  controlPid?: number;
  /** Its HTTP API on 127.0.0.1 (restore, status, down). */
  apiPort?: number;
  /** The stand-ins it started, so that `down` stops them even when it is gone. */
  standIns?: { name: string; pid: number }[];
  /** Set once the first primary streams, has a base backup, and the endpoint points at it. */
  ready?: boolean;
  /** Why the control process could not bring the cluster up. */
  failed?: string;
}

export const clusterFilePath = (dir: string) => join(dir, 'cluster.json');

export function readClusterFile(dir: string): ClusterFile | undefined {
  const path = clusterFilePath(dir);
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as ClusterFile) : undefined;
}

export function writeClusterFile(dir: string, file: ClusterFile): void {
  const path = clusterFilePath(dir);
  writeFileSync(`${path}.tmp`, `${JSON.stringify(file, null, 2)}\n`);
  renameSync(`${path}.tmp`, path);
}

/** One event of the timeline: when, what kind, and a line for people. */
export interface TimelineEvent {
  at: string;
  kind: string;
  detail: string;
}

export const timelinePath = (dir: string) => join(dir, 'timeline.log');

export function readTimeline(dir: string): TimelineEvent[] {
  if (!existsSync(timelinePath(dir))) return [];
  return readFileSync(timelinePath(dir), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as TimelineEvent);
}
