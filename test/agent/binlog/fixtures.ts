/**
 * The recorded binlog fixtures in shared/fixtures (next to the repository) and what MANIFEST.md
 * says about each. Files are found by walking the directory, so new ones are tested too.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where the fixtures are: $SQUIRREL_FIXTURES, else `shared/fixtures` next to the repository
 * (dist/test/agent/binlog/ -> the directory holding the repository), else /work/shared/fixtures.
 */
const candidates = [
  process.env.SQUIRREL_FIXTURES,
  fileURLToPath(new URL('../../../../../shared/fixtures/', import.meta.url)),
  '/work/shared/fixtures/',
].filter((c): c is string => Boolean(c));
export const fixtureRoot = candidates.find((c) => existsSync(join(c, 'MANIFEST.md'))) ?? candidates[0]!;

export function requireFixtures(): void {
  if (!existsSync(join(fixtureRoot, 'MANIFEST.md'))) {
    throw new Error(`binlog fixtures not found (looked in ${candidates.join(', ')}); set SQUIRREL_FIXTURES to the fixtures directory`);
  }
}

/** Every fixture file, relative to the root, sorted (licences and the manifest excluded). */
export function fixtureFiles(): string[] {
  requireFixtures();
  const walk = (dir: string): string[] =>
    readdirSync(dir).flatMap((name) => {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) return name === 'LICENSES' ? [] : walk(path);
      return name.endsWith('.md') ? [] : [relative(fixtureRoot, path)];
    });
  return walk(fixtureRoot).sort();
}

export function readFixture(rel: string): Buffer {
  return readFileSync(join(fixtureRoot, rel));
}

export interface ManifestEntry {
  path: string;
  sizeBytes: number;
  /** Event histogram as MANIFEST lists it, without events it marks "(truncated)". */
  events: Record<string, number>;
  eventCount: number;
  /** The checksum column: 'CRC32', 'NONE' or 'n/a'. */
  checksum: string;
  /** "CRC32 checked: N ok, M bad" (MANIFEST does not count FORMAT_DESCRIPTION events). */
  crc32?: { ok: number; bad: number };
  lastEvent: string;
  /** BAD INPUT, ENCRYPTED, TRUNCATED, ODD INPUT, or undefined for a normal file. */
  marker?: string;
  contents: string;
}

/** Parses MANIFEST.md's tables into one entry per fixture path. */
export function readManifest(): Map<string, ManifestEntry> {
  requireFixtures();
  const out = new Map<string, ManifestEntry>();
  for (const line of readFileSync(join(fixtureRoot, 'MANIFEST.md'), 'utf8').split('\n')) {
    const m = /^\| `([^`]+)` \| ([\d,]+) \|/.exec(line);
    if (!m?.[1] || !m[2]) continue;
    const cells = line.split(' | ');
    const contents = cells[cells.length - 1] ?? '';
    const hist = /(\d+) events?: ([^.]*)\./.exec(contents);
    const events: Record<string, number> = {};
    for (const part of (hist?.[2] ?? '').split(', ')) {
      const item = /^([A-Z0-9_]+)(\(truncated\))?(?:×(\d+))?$/.exec(part.trim());
      if (!item?.[1]) throw new Error(`MANIFEST: cannot read "${part}" for ${m[1]}`);
      if (item[2]) continue;
      events[item[1]] = (events[item[1]] ?? 0) + Number(item[3] ?? 1);
    }
    const crc = /CRC32 checked: (\d+) ok(?:, (\d+) bad)?/.exec(contents);
    const checksum = /checksum (CRC32|NONE|n\/a)/.exec(contents)?.[1] ?? '?';
    const marker = /(BAD INPUT|ENCRYPTED|TRUNCATED|ODD INPUT)/.exec(contents)?.[1];
    out.set(m[1], {
      path: m[1],
      sizeBytes: Number(m[2].replace(/,/g, '')),
      events,
      eventCount: Object.values(events).reduce((a, b) => a + b, 0),
      checksum,
      ...(crc ? { crc32: { ok: Number(crc[1]), bad: Number(crc[2] ?? 0) } } : {}),
      lastEvent: /Last event: ([A-Z0-9_]+)/.exec(contents)?.[1] ?? '?',
      ...(marker ? { marker } : {}),
      contents,
    });
  }
  return out;
}
