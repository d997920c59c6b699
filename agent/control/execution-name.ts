/**
 * Step Functions execution names: 1-80 characters of letters, digits, '-' and '_'. A cluster id
 * may hold others (DESIGN.md leaves it free); those become '_' (and a long id is cut), so the
 * name stays a pure function of (clusterId, epoch): every detection of one death derives the
 * same one.
 */
export function failoverExecutionName(clusterId: string, epoch: number): string {
  const suffix = `-epoch-${epoch}`;
  return `failover-${clusterId.replace(/[^A-Za-z0-9_-]/g, '_')}`.slice(0, 80 - suffix.length) + suffix;
}
