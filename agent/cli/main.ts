#!/usr/bin/env node
import { Command } from 'commander';
import { readFileSync } from 'node:fs';

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
  return program;
}

await buildProgram().parseAsync(process.argv);
