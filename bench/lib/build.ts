/**
 * The product as a separate Node process, compiled from src/ for the run: memory is measured on the
 * process the product really is (`portway serve`), not on a TypeScript loader. esbuild (which tsx
 * brings) transpiles src/ file by file (no bundling) into node_modules/.cache/portway-bench/, where
 * Node finds the dependencies in node_modules/; without esbuild the process runs under tsx instead.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { REPO } from '../../test/helpers/services.js';

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) out.push(...tsFiles(p));
    else if (f.endsWith('.ts') && !f.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

export interface Runnable {
  /** node arguments before the CLI's own. */
  nodeArgs: string[];
  how: string;
}

/** Command line that runs `portway` (src/cli/portway.ts). */
export function buildCli(): Runnable {
  const esbuild = join(REPO, 'node_modules', '.bin', 'esbuild');
  const out = join(REPO, 'node_modules', '.cache', 'portway-bench', 'src');
  if (existsSync(esbuild)) {
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out, { recursive: true });
    const files = tsFiles(join(REPO, 'src')).map((f) => relative(REPO, f));
    execFileSync(esbuild, [...files, `--outdir=${out}`, '--outbase=src', '--format=esm', '--platform=node', '--target=node20', '--log-level=error'], {
      cwd: REPO,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    writeFileSync(join(out, 'package.json'), '{"type":"module"}\n');
    return { nodeArgs: [join(out, 'cli', 'portway.js')], how: 'src/ transpiled by esbuild, plain node' };
  }
  return {
    nodeArgs: ['--import', 'tsx', join(REPO, 'src', 'cli', 'portway.ts')],
    how: 'under tsx (no esbuild found): includes the loader',
  };
}
