import type { LaunchRequest } from '../ports/compute.js';

/**
 * The user data a replacement boots with: its job as JSON, written to /etc/squirrel/job.json,
 * followed by the launch template's own boot script (its user data replaces the template's in
 * RunInstances, so it carries it along: install MariaDB and squirrel, write the configuration).
 * That script (infra/private/host-bootstrap.ts) starts `squirrel instance-job` (restore, promote
 * under the claimed epoch, the supervised agent, a base backup) when job.json is there, and
 * `squirrel agent` on a normal boot. A template without user data (an image with squirrel
 * installed) gets a script that runs the job directly. Only the job is per launch; everything
 * else comes from the launch template, so a job holds no secret.
 */
export function userData(req: LaunchRequest, templateScript?: string): string {
  const job = { clusterId: req.clusterId, epoch: req.epoch, primary: req.reservation.identity, job: req.job };
  const writeJob = `mkdir -p /etc/squirrel\ncat > /etc/squirrel/job.json <<'SQUIRREL_JOB'\n${JSON.stringify(job)}\nSQUIRREL_JOB\n`;
  if (templateScript?.startsWith('#!')) {
    // the template's script after its shebang line, unchanged
    return `#!/bin/bash\nset -euo pipefail\n${writeJob}${templateScript.slice(templateScript.indexOf('\n') + 1)}`;
  }
  return `#!/bin/bash\nset -euo pipefail\n${writeJob}exec squirrel instance-job --config /etc/squirrel/config.yaml --dir /var/lib/squirrel/instance --job /etc/squirrel/job.json\n`;
}
