import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { InstanceStatus } from '../../instance/job.js';

/** What an instance's job last reported (`status.json`), or undefined before its first report. */
export function instanceStatus(instanceDir: string): InstanceStatus | undefined {
  const path = join(instanceDir, 'status.json');
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as InstanceStatus;
  } catch {
    return undefined; // being replaced: the next read has it
  }
}
