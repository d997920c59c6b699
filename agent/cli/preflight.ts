import { Option, type Command } from 'commander';
import { defaults, parseMysqlUrl } from '../config.js';
import { evaluate, flavourOf, formatReport, gatherFacts, hasFatal, type LosslessMode } from '../preflight.js';
import { ExitCode, runCommand, withConfigOption } from './command.js';

/** `squirrel preflight`: can this server be protected? Exit 0 when nothing is fatal (warnings shown), 1 otherwise. */
export function register(program: Command): void {
  withConfigOption(
    program
      .command('preflight')
      .description('check that the server in SQUIRREL_MYSQL_URL can be protected: binlog settings, GTIDs, server_id, privileges')
      .option('--json', 'print {ok, server, version, checks} as JSON')
      .addOption(new Option('--lossless <mode>', "also check the primary's semi-sync settings for lossless mode (default: the configuration's `lossless`)").choices(['strict', 'best-effort', 'off'])),
  ).action(async (opts: { config?: string; json?: boolean; lossless?: LosslessMode }) => {
    await runCommand(opts, ['mysqlUrl'], async ({ config, out }) => {
      const facts = await gatherFacts(config.mysqlUrl, config.serverId ?? (defaults.serverId as number));
      const checks = evaluate(facts, { lossless: opts.lossless ?? config.lossless ?? 'off' });
      const { user, host, port } = parseMysqlUrl(config.mysqlUrl);
      const server = `${user}@${host}:${port}`;
      if (opts.json) {
        out(JSON.stringify({ ok: !hasFatal(checks), server, version: facts.version, checks }, null, 2));
      } else {
        out(`preflight for ${server} (${facts.version})\n`);
        out(formatReport(checks, flavourOf(facts.version)));
      }
      return hasFatal(checks) ? ExitCode.failed : ExitCode.ok;
    });
  });
}
