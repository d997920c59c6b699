import type { Command } from 'commander';
import { describeError } from '../errors.js';
import { inspectFile, type InspectReport } from '../binlog/inspect.js';
import { ExitCode } from './command.js';

/** The one line an operator sees when a file is bad: the file, the byte offset and what is wrong. */
export function formatInspectError(r: InspectReport): string | undefined {
  if (!r.error) return undefined;
  const what = r.error.event ? ` (${r.error.event} event)` : '';
  return `${r.file}: bad binlog at byte ${r.error.offset}${what}: ${r.error.message}`;
}

function histogramRows(h: Record<string, number>): [string, string][] {
  return Object.entries(h).map(([name, n]) => ['', `${name.padEnd(28)} ${String(n).padStart(7)}`]);
}

/** Pure: the human summary of a report, one line per row. */
export function formatInspectReport(r: InspectReport): string[] {
  const rows: [string, string][] = [
    ['file', `${r.file} (${r.sizeBytes.toLocaleString('en-US')} bytes)`],
    ['server', r.serverVersion === null ? '-' : `${r.serverVersions.join(' / ')}, binlog v${r.binlogVersion}`],
    ['checksum', r.checksum + (r.inUse ? ' (file in use or not closed cleanly)' : '')],
    ['events', String(r.eventCount)],
    ...histogramRows(r.events),
  ];
  if (Object.keys(r.innerEvents).length > 0) rows.push(['in payloads', ''], ...histogramRows(r.innerEvents));
  rows.push(
    ['last event', r.lastEvent ?? '-'],
    ['transactions', String(r.transactions)],
    ['gtids', r.firstGtid === null ? '-' : `${r.firstGtid} .. ${r.lastGtid}`],
    ['time', r.firstEventTime === null ? '-' : `${r.firstEventTime} .. ${r.lastEventTime}`],
    ['crc32', r.checksum === 'CRC32' ? `${r.crc32.checked} checked, ${r.crc32.ok} ok, ${r.crc32.bad} bad` : 'not written'],
    ['status', r.ok ? 'ok' : `BAD at byte ${r.error?.offset}`],
  );
  const lines = rows.map(([k, v]) => `${k.padEnd(14)} ${v}`.trimEnd());
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  return lines;
}

export function register(program: Command): void {
  program
    .command('inspect')
    .description('read a binlog file: event counts, transactions, GTID range, checksums; exit 1 if it is corrupt or truncated')
    .argument('<file>', 'a binlog or relay log file')
    .option('--json', 'print one JSON object')
    .action(async (file: string, opts: { json?: boolean }) => {
      // No configuration: inspect reads a local file and nothing else.
      let report: InspectReport;
      try {
        report = await inspectFile(file);
      } catch (err) {
        process.stderr.write(`squirrel: inspect ${file}: ${describeError(err)}\n`);
        process.exitCode = ExitCode.failed;
        return;
      }
      const lines = opts.json ? [JSON.stringify(report)] : formatInspectReport(report);
      process.stdout.write(`${lines.join('\n')}\n`);
      const problem = formatInspectError(report);
      if (problem) process.stderr.write(`squirrel: ${problem}\n`);
      process.exitCode = report.ok ? ExitCode.ok : ExitCode.failed;
    });
}
