/**
 * Crash trials: a correctness run, not a timing one. Each trial writes numbered two-table
 * transactions through several connections, kills the primary's server, its agent or both with
 * SIGKILL at a random moment (S3 slow or failing through a fault proxy in some trials), restores
 * `latest` after claiming the next epoch, checks the restore against the acknowledged commits and
 * the durable position, and checks that the fenced old primary, restarted, changes nothing
 * (agent/local/crash-trial.ts). One local stack serves every trial.
 *
 *   npm run crash-trials -- --trials N [--mode lossless|async] [--faults none|s3-slow|s3-errors|mixed] [--seed S] [--results NAME] [--keep]
 *
 * `--seed S` replays one trial. `--results NAME` writes bench/results/NAME.json. Exits non-zero
 * when any trial failed. CRASH_TRIALS_VERBOSE=1 prints each trial's steps as they happen.
 */
import { randomInt } from 'node:crypto';
import { runCrashTrial, type CrashMode, type FaultsOption, type TrialResult } from '../agent/local/crash-trial.js';
import { startLocalStack } from '../agent/local/stack.js';
import { machine, say, writeResults } from './common.js';

const MODES: readonly CrashMode[] = ['lossless', 'async'];
const FAULTS: readonly FaultsOption[] = ['none', 's3-slow', 's3-errors', 'mixed'];

interface Args {
  trials: number;
  mode: CrashMode;
  faults: FaultsOption;
  seed?: number;
  results?: string;
  keep: boolean;
}

class UsageError extends Error {}

function parseArgs(argv: string[]): Args {
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    if (i < 0) return undefined;
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new UsageError(`${name} needs a value`);
    return v;
  };
  const known = new Set(['--trials', '--mode', '--faults', '--seed', '--results', '--keep']);
  for (const a of argv) if (a.startsWith('--') && !known.has(a)) throw new UsageError(`unknown option ${a}`);
  const seedText = value('--seed');
  const seed = seedText === undefined ? undefined : Number(seedText);
  if (seed !== undefined && !(Number.isInteger(seed) && seed >= 0 && seed < 2 ** 32)) throw new UsageError(`--seed must be a whole number in [0, 2^32), got "${seedText}"`);
  const trialsText = value('--trials') ?? (seed === undefined ? undefined : '1');
  if (trialsText === undefined) throw new UsageError('--trials N is required (or --seed S to replay one trial)');
  const trials = Number(trialsText);
  if (!(Number.isInteger(trials) && trials >= 1)) throw new UsageError(`--trials must be a whole number of at least 1, got "${trialsText}"`);
  if (seed !== undefined && trials !== 1) throw new UsageError('--seed replays one trial: leave out --trials or give --trials 1');
  const mode = (value('--mode') ?? 'lossless') as CrashMode;
  if (!MODES.includes(mode)) throw new UsageError(`--mode must be one of ${MODES.join(', ')}, got "${mode}"`);
  const faults = (value('--faults') ?? 'mixed') as FaultsOption;
  if (!FAULTS.includes(faults)) throw new UsageError(`--faults must be one of ${FAULTS.join(', ')}, got "${faults}"`);
  const results = value('--results');
  if (results !== undefined && !/^[A-Za-z0-9_-]+$/.test(results)) throw new UsageError(`--results must be a file name (letters, digits, - and _), got "${results}"`);
  return { trials, mode, faults, ...(seed !== undefined ? { seed } : {}), ...(results ? { results } : {}), keep: argv.includes('--keep') };
}

/** Counts per value of `key`. */
const tally = (results: TrialResult[], key: (r: TrialResult) => string) => results.reduce<Record<string, number>>((acc, r) => ((acc[key(r)] = (acc[key(r)] ?? 0) + 1), acc), {});

async function main(): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`crash-trials: ${err.message}\nusage: npm run crash-trials -- --trials N [--mode lossless|async] [--faults none|s3-slow|s3-errors|mixed] [--seed S] [--results NAME] [--keep]\n`);
    return 2;
  }
  const started = Date.now();
  const seeds = args.seed !== undefined ? [args.seed] : Array.from({ length: args.trials }, () => randomInt(2 ** 32));
  const stack = await startLocalStack({});
  const results: TrialResult[] = [];
  const failures: { seed: number; problems: string[] }[] = [];
  try {
    for (const [i, seed] of seeds.entries()) {
      try {
        const r = await runCrashTrial(stack, { seed, mode: args.mode, faults: args.faults, keep: args.keep, ...(process.env.CRASH_TRIALS_VERBOSE ? { say } : {}) });
        results.push(r);
        const s3 = r.s3;
        say(
          `trial ${i + 1}/${seeds.length} seed ${seed}: ${r.plan.faults}, kill ${r.plan.kill} after ${r.plan.killAfterMs} ms (+${r.plan.survivorMs} ms): acked ${r.acked}, durable ${r.durable}, restored ${r.restored}, lost ${r.lost}; ` +
            `S3 ${s3.requests} requests (${s3.errors} errors, ${s3.resetsBefore + s3.resetsAfter} resets); old agent exit ${r.fencedExit}; ${(r.durationMs / 1000).toFixed(1)} s${r.problems.length ? ' FAILED' : ''}`,
        );
        if (r.problems.length) failures.push({ seed, problems: r.problems });
      } catch (err) {
        say(`trial ${i + 1}/${seeds.length} seed ${seed}: ERROR ${(err as Error).stack ?? String(err)}`);
        failures.push({ seed, problems: [`the trial could not run to its end: ${(err as Error).message}`] });
      }
    }
  } finally {
    await stack.stop();
  }
  const sum = (k: 'acked' | 'durable' | 'restored' | 'lost') => results.reduce((n, r) => n + r[k], 0);
  say(`trials ${seeds.length}, acked ${sum('acked')}, durable ${sum('durable')}, restored ${sum('restored')}, lost ${sum('lost')}`);
  for (const f of failures) {
    say(`FAILED seed ${f.seed}: ${f.problems.join('; ')}`);
    say(`  replay: npm run crash-trials -- --seed ${f.seed} --mode ${args.mode} --faults ${args.faults}`);
  }
  if (args.results) {
    const path = writeResults(args.results, {
      benchmark: 'crash-trials',
      machine: machine(),
      command: `npm run crash-trials -- --trials ${args.trials} --mode ${args.mode} --faults ${args.faults}`,
      parameters: { trials: seeds.length, mode: args.mode, faults: args.faults },
      durationSeconds: Math.round((Date.now() - started) / 1000),
      totals: { trials: seeds.length, acked: sum('acked'), durable: sum('durable'), restored: sum('restored'), lost: sum('lost'), failed: failures.length },
      distribution: { faults: tally(results, (r) => r.plan.faults), kill: tally(results, (r) => r.plan.kill), oldAgentExit: tally(results, (r) => String(r.fencedExit)) },
      s3Faults: results.reduce((acc, r) => ({ requests: acc.requests + r.s3.requests, errors: acc.errors + r.s3.errors, resetsBefore: acc.resetsBefore + r.s3.resetsBefore, resetsAfter: acc.resetsAfter + r.s3.resetsAfter, delayed: acc.delayed + r.s3.delayed }), { requests: 0, errors: 0, resetsBefore: 0, resetsAfter: 0, delayed: 0 }),
      failures,
      trials: results.map((r) => ({ seed: r.plan.seed, faults: r.plan.faults, faultPlan: r.plan.faultPlan, kill: r.plan.kill, killAfterMs: r.plan.killAfterMs, survivorMs: r.plan.survivorMs, attempted: r.attempted, acked: r.acked, durable: r.durable, withoutGtid: r.withoutGtid, restored: r.restored, lost: r.lost, durableGtid: r.durableGtid, restoredGtid: r.restoredGtid, oldAgentExit: r.fencedExit, s3: r.s3, durationMs: r.durationMs, problems: r.problems })),
    });
    say(`results: ${path}`);
  }
  return failures.length > 0 ? 1 : 0;
}

process.exitCode = await main();
