import type { LaunchRequest } from '../ports/compute.js';

/**
 * The user data a replacement boots with: its job as JSON on the standard input of
 * `squirrel instance-job` (agent/instance/job.ts: restore, promote under the claimed epoch, the
 * supervised agent, a base backup), installed by the AMI or the launch template, with its
 * configuration in /etc/squirrel/config.yaml. Only the job is per launch; everything else
 * (bucket, table, region, the server's URL) comes from the launch template, so a job holds no secret.
 */
export function userData(req: LaunchRequest): string {
  const job = { clusterId: req.clusterId, epoch: req.epoch, primary: req.reservation.identity, job: req.job };
  return `#!/bin/bash\nset -euo pipefail\nexec squirrel instance-job --config /etc/squirrel/config.yaml --dir /var/lib/squirrel/instance <<'SQUIRREL_JOB'\n${JSON.stringify(job)}\nSQUIRREL_JOB\n`;
}
