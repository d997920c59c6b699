#!/usr/bin/env node
// TEMPORARY: agent/cli/main.ts plus the backup, restore and prune commands, until the lead wires
// them into main.ts (then delete this file and use test/harness/cli.ts).
import { Command } from 'commander';
import { register as registerAgent } from '../../agent/cli/agent.js';
import { register as registerBackup } from '../../agent/cli/backup.js';
import { register as registerPrune } from '../../agent/cli/prune.js';
import { register as registerRestore } from '../../agent/cli/restore.js';
import { register as registerStatus } from '../../agent/cli/status.js';

const program = new Command('squirrel').showHelpAfterError();
program.exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));
registerAgent(program);
registerStatus(program);
registerBackup(program);
registerRestore(program);
registerPrune(program);
await program.parseAsync(process.argv);
