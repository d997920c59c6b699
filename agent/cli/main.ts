#!/usr/bin/env node
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { register as registerAgent } from './agent.js';
import { register as registerBackup } from './backup.js';
import { register as registerClaim } from './claim.js';
import { register as registerInspect } from './inspect.js';
import { register as registerInstanceJob } from './instance-job.js';
import { register as registerLocal } from './local.js';
import { register as registerPreflight } from './preflight.js';
import { register as registerPromote } from './promote.js';
import { register as registerPrune } from './prune.js';
import { register as registerRestore } from './restore.js';
import { register as registerServe } from './serve.js';
import { register as registerStatus } from './status.js';
import { register as registerVerify } from './verify.js';

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

/** Builds the command tree. Each command lives in its own file and registers itself here. */
export function buildProgram(): Command {
  const program = new Command('squirrel')
    .description('Point-in-time recovery for MariaDB/MySQL: the binlog streamed to S3, a durable position in DynamoDB')
    .version(pkg.version)
    .showHelpAfterError()
    .configureOutput({ outputError: (str, write) => write(str) });
  program.exitOverride((err) => {
    // commander's usage errors (unknown option, missing argument) exit 2 like configuration errors
    process.exit(err.exitCode === 0 ? 0 : 2);
  });
  registerAgent(program);
  registerPreflight(program);
  registerInspect(program);
  registerStatus(program);
  registerVerify(program);
  registerBackup(program);
  registerRestore(program);
  registerPrune(program);
  registerServe(program);
  registerClaim(program);
  registerPromote(program);
  registerInstanceJob(program);
  registerLocal(program);
  return program;
}

await buildProgram().parseAsync(process.argv);
