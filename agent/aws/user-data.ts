import type { LaunchRequest } from '../ports/compute.js';

/**
 * The user data a replacement boots with: its job as JSON, handed to `/opt/squirrel/bin/instance-job`
 * (installed by the AMI or the launch template), which restores, promotes (restore-and-promote)
 * and starts the agent. Only the job is per launch; everything else (bucket, table, region)
 * comes from the launch template, so a job holds no secret.
 */
export function userData(req: LaunchRequest): string {
  const job = { clusterId: req.clusterId, epoch: req.epoch, primary: req.reservation.identity, job: req.job };
  return `#!/bin/bash\nset -euo pipefail\nexec /opt/squirrel/bin/instance-job <<'SQUIRREL_JOB'\n${JSON.stringify(job)}\nSQUIRREL_JOB\n`;
}
