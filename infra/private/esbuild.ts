import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AssetHashType, DockerImage, type AssetOptions } from 'aws-cdk-lib';

/** The repository root: this file compiles to dist/infra/private/, esbuild reads the TypeScript sources at the root. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** What one esbuild run bundles: output paths (without extension) to TypeScript entry files, relative to the repository root. */
export interface EsbuildBundle {
  readonly entryPoints: Record<string, string>;
  /** Share code between entry points in chunks (ES modules only). @default false */
  readonly splitting?: boolean;
  /**
   * The bundles' file extension. `.js` needs a `package.json` of `"type": "module"` beside it
   * (in `files`); it keeps paths that the code computes from `import.meta.url` (the agent finds
   * its own CLI as `../cli/main.js`) pointing at the bundle. @default '.mjs'
   */
  readonly extension?: '.mjs' | '.js';
  /** Extra files written next to the bundle (relative path to contents). @default none */
  readonly files?: Record<string, string>;
}

/**
 * Asset options that bundle TypeScript sources with the locally installed esbuild at synth time:
 * ES modules for Node 22, every dependency inlined, no Docker, no network. The CommonJS
 * dependencies of the bundle (mysql2, the SDK's shared parts) call `require` of Node's built-ins,
 * which an ES module does not have: the banner gives them one. Throws when esbuild is not
 * installed rather than falling back to Docker (`cdk synth` must stay offline).
 */
export function esbuildAsset(bundle: EsbuildBundle): AssetOptions {
  return {
    // the output's hash: the sources live across agent/ and lambdas/, hashing them twice is slower
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      // never pulled: local bundling either succeeds or throws
      image: DockerImage.fromRegistry('squirrel-bundles-locally-with-esbuild'),
      local: {
        tryBundle(outputDir: string): boolean {
          const esbuild = loadEsbuild();
          esbuild.buildSync({
            absWorkingDir: repoRoot,
            entryPoints: Object.fromEntries(Object.entries(bundle.entryPoints).map(([out, src]) => [out, join(repoRoot, src)])),
            outdir: outputDir,
            outExtension: { '.js': bundle.extension ?? '.mjs' },
            bundle: true,
            splitting: bundle.splitting ?? false,
            chunkNames: 'chunks/[name]-[hash]',
            platform: 'node',
            target: 'node22',
            format: 'esm',
            minify: true,
            sourcemap: false,
            legalComments: 'none',
            banner: { js: "import { createRequire as __squirrelRequire } from 'node:module'; const require = __squirrelRequire(import.meta.url);" },
            logLevel: 'error',
          });
          for (const [path, text] of Object.entries(bundle.files ?? {})) writeFile(join(outputDir, path), text);
          return true;
        },
      },
    },
  };
}

type Esbuild = { buildSync(options: Record<string, unknown>): unknown };

function loadEsbuild(): Esbuild {
  try {
    // loaded when bundling only: the local runner synthesizes without bundling and without esbuild
    return createRequire(import.meta.url)('esbuild') as Esbuild;
  } catch (err) {
    throw new Error('bundle the Lambda handlers and the agent: esbuild is not installed (npm install --save-dev esbuild); cdk synth bundles locally, never in Docker', { cause: err });
  }
}

function writeFile(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}
