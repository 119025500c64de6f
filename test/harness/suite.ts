/** Gate and start for the HA test files: root (network namespaces) and the HA tools, or a loud skip. */
import { type ClusterOptions, HA_TOOLS, SimCluster } from './cluster.js';
import { missingTools } from '../helpers/product.js';

/** Why the HA tests cannot run here (undefined: they can). Fails instead of skipping when CI=true. */
export function haSkip(extra: string[] = []): string | undefined {
  if (process.getuid?.() !== 0) {
    const why = 'the HA tests need root (network namespaces, tgtd)';
    if (process.env.CI === 'true') throw new Error(`CI=true and ${why}`);
    process.stderr.write(`\n*** SKIPPING: ${why} ***\n\n`);
    return why;
  }
  return missingTools([...HA_TOOLS, ...extra]);
}

export function haCluster(opts: ClusterOptions): Promise<SimCluster> {
  return SimCluster.start(opts);
}
