/**
 * What `squirrel promote` checks before it opens a restored server to writes, as pure functions
 * of what it read: the server's applied GTID position, the restore target, and the cluster's
 * state item. Each refusal names what differs and the fix; promote.ts acts on them (refuses, or
 * with `--force` warns and goes on).
 */
import { describePrimary, primaryKey, type ClusterState, type PrimaryIdentity } from '../cluster/state.js';
import { GtidPosition, gtidFlavour } from '../binlog/gtid-position.js';
import { formatMariaGtid } from '../protocol/gtid.js';

/** How one domain of the server's applied position differs from the target. */
export interface DomainDifference {
  /** undefined for a MySQL executed set, compared whole. */
  domain?: number;
  /** The server's last GTID in the domain ('' when it has none). */
  server: string;
  /** The target's ('' when it names none). */
  target: string;
  /** behind: the target has transactions the server lacks; ahead: the server has some the target does not; differs: same sequence number, another server id (another history). */
  how: 'behind' | 'ahead' | 'differs';
}

/**
 * Per domain, how `applied` differs from `target` (empty: they are equal in every domain). A
 * domain missing on one side counts: the server is behind in a domain only the target names, and
 * ahead in one only it holds (DESIGN.md invariant 7: nothing is dropped for naming fewer domains).
 */
export function positionDifferences(applied: string, target: string): DomainDifference[] {
  const flavour = gtidFlavour(applied) ?? gtidFlavour(target);
  if (flavour === 'mysql') {
    const a = new GtidPosition(applied).text;
    const t = new GtidPosition(target).text;
    return a === t ? [] : [{ server: a, target: t, how: 'differs' }];
  }
  const a = new Map(new GtidPosition(applied).domains.map((g) => [g.domainId, g]));
  const t = new Map(new GtidPosition(target).domains.map((g) => [g.domainId, g]));
  const out: DomainDifference[] = [];
  for (const domain of [...new Set([...a.keys(), ...t.keys()])].sort((x, y) => x - y)) {
    const s = a.get(domain);
    const g = t.get(domain);
    const server = s ? formatMariaGtid(s) : '';
    const tgt = g ? formatMariaGtid(g) : '';
    if (!s) out.push({ domain, server, target: tgt, how: 'behind' });
    else if (!g) out.push({ domain, server, target: tgt, how: 'ahead' });
    else if (s.seqNo < g.seqNo) out.push({ domain, server, target: tgt, how: 'behind' });
    else if (s.seqNo > g.seqNo) out.push({ domain, server, target: tgt, how: 'ahead' });
    else if (s.serverId !== g.serverId) out.push({ domain, server, target: tgt, how: 'differs' });
  }
  return out;
}

/** One line per differing domain: `domain 0: server at 0-1-28, target 0-1-30 (behind)`. */
export function describeDifferences(diffs: readonly DomainDifference[]): string {
  return diffs
    .map((d) => `${d.domain === undefined ? 'position' : `domain ${d.domain}`}: server at ${d.server || '(none)'}, target ${d.target || '(none)'} (${d.how})`)
    .join(', ');
}

/** What promote read, before changing anything. */
export interface PromoteFacts {
  /** The server as the operator named it (user@host:port). */
  server: string;
  /** The server's applied GTID position: gtid_slave_pos merged with gtid_binlog_pos, per domain. */
  applied: string;
  /** `--target-gtid`, the position a time or GTID restore printed; else the cluster's durable position is the target. */
  targetGtid?: string;
  /** Undefined: no cluster configuration (clusterId, table). */
  cluster?: {
    clusterId: string;
    /** Undefined: the cluster has no state item. */
    state: ClusterState | undefined;
    /** This server, as a claim names it (instanceId and port, else host and port). */
    identity: PrimaryIdentity;
  };
}

/** Why promote refuses: what is wrong, and the fix (a full sentence). */
export interface PromoteRefusal {
  kind: 'no-cluster' | 'target' | 'epoch';
  reason: string;
  fix: string;
}

/** The command that claims the next epoch for this server. */
function claimCommand(identity: PrimaryIdentity, from?: number): string {
  return `squirrel claim --host ${identity.host} --port ${identity.port}${identity.instanceId ? ` --instance-id ${identity.instanceId}` : ''}${from === undefined ? '' : ` --from ${from}`}`;
}

/**
 * The epoch this server would write under, if it is the one claimed for it and still waiting for
 * its start: the state item's epoch, `startPending`, its claim naming exactly this server.
 */
export function claimedEpochFor(state: ClusterState | undefined, identity: PrimaryIdentity): number | undefined {
  if (!state?.startPending || !state.primary) return undefined;
  return primaryKey(state.primary) === primaryKey(identity) ? state.epoch : undefined;
}

/**
 * Every reason promote must not open writes on this server (empty: it may). Pure.
 * - The server has applied exactly the restore target: `targetGtid`, else the cluster's durable
 *   position (after the claim, the handover of the fenced epoch: what a restore to latest reaches).
 *   A server behind would lose promised transactions; one ahead holds transactions the cluster
 *   never promised (a new primary's writes would follow history no restore can rebuild).
 * - The epoch it will write under is claimed for it and not started: its agent can then join, and
 *   nothing of the old primary can still be taken (the claim fenced it).
 */
export function checkPromote(facts: PromoteFacts): PromoteRefusal[] {
  const refusals: PromoteRefusal[] = [];
  const { cluster } = facts;
  if (!cluster) {
    refusals.push({
      kind: 'no-cluster',
      reason: 'no cluster configuration (clusterId, table): cannot check which epoch this server would write under',
      fix: 'Set SQUIRREL_CLUSTER_ID and SQUIRREL_TABLE (or the config file) as for the agent.',
    });
  }
  const target = facts.targetGtid ?? (cluster?.state ? (cluster.state.durable?.gtid ?? '') : undefined);
  if (target !== undefined) {
    const diffs = positionDifferences(facts.applied, target);
    if (diffs.length > 0) {
      const of = facts.targetGtid !== undefined ? `--target-gtid ${facts.targetGtid || '(empty)'}` : `the durable position of cluster ${cluster!.clusterId} (${target || 'empty'})`;
      refusals.push({
        kind: 'target',
        reason: `the server has not applied exactly ${of}: ${describeDifferences(diffs)}`,
        fix:
          facts.targetGtid !== undefined
            ? 'Restore again to that target, or pass the GTID position the restore printed.'
            : 'Restore again to latest (after the claim, so it reaches the handover), or for a restore to a time or GTID pass --target-gtid with the GTID position the restore printed.',
      });
    }
  }
  if (cluster) {
    const { state, identity } = cluster;
    const me = describePrimary(identity);
    if (!state) {
      refusals.push({ kind: 'epoch', reason: `cluster ${cluster.clusterId} has no state: no epoch is claimed for ${me}`, fix: 'Promote a server restored from an existing cluster; check clusterId and table.' });
    } else if (!state.startPending) {
      refusals.push({
        kind: 'epoch',
        reason: `no epoch of cluster ${cluster.clusterId} is claimed for ${me}: epoch ${state.epoch} began already at ${state.start.file}:${state.start.pos}${state.primary ? ` on ${describePrimary(state.primary)}` : ''}`,
        fix: `Claim the next epoch for this server first (\`${claimCommand(identity)}\`; it fences the current primary), restore again to latest, and promote.`,
      });
    } else if (claimedEpochFor(state, identity) === undefined) {
      refusals.push({
        kind: 'epoch',
        reason: `epoch ${state.epoch} of cluster ${cluster.clusterId} is claimed for ${state.primary ? describePrimary(state.primary) : 'no named server'}, not for this server (${me})`,
        fix: `Promote the server the claim names, or claim the next epoch for this one (\`${claimCommand(identity, state.epoch)}\`). A server is named by instanceId and port when the configuration has instanceId, else by the host and port of the URL promote is given.`,
      });
    }
  }
  return refusals;
}
