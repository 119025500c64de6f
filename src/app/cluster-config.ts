/**
 * The cluster settings a program works with: read from the coordination store (the first start with
 * none there seeds them from this node's file: migration), merged with this node's interfaces, and kept
 * current by a watch (`portway serve` and `portway agent`).
 */
import type { Logger } from 'pino';
import type { CoordStore } from '../adapters/coord/types.js';
import { type ClusterSettings, type StoredClusterSettings, clusterSettingsOf, settingsChanges, withInterfaces } from '../domain/cluster-settings.js';
import { type ClusterConfig, DEFAULT_CONFIG, type ResolvedSubnet, checkConfig } from '../domain/config.js';
import { ClusterSettingsService } from '../services/cluster-settings-service.js';
import { type Settings, SettingsError, localInterfaces } from './settings.js';

export interface EffectiveConfig {
  config: ClusterConfig;
  subnet1: ResolvedSubnet;
  subnet2: ResolvedSubnet;
  stored: StoredClusterSettings;
}

/** The cluster settings with this node's interfaces, checked (an interface name the file got wrong). */
export function effectiveConfig(s: Settings, stored: StoredClusterSettings): EffectiveConfig {
  const config = withInterfaces(stored.settings, localInterfaces(s));
  const c = checkConfig(config);
  if (!c.ok) throw new SettingsError(c.message);
  return { config, subnet1: c.subnet1, subnet2: c.subnet2, stored };
}

/** The cluster part of this node's file, as cluster settings. */
export function fileClusterSettings(s: Settings): ClusterSettings {
  return clusterSettingsOf(s.cluster, s.agent.leaseTtlSeconds);
}

/**
 * The store's cluster settings, seeded from the file when there are none. seed false (`node join`):
 * none stored is an error naming `portway cluster init`.
 */
export async function loadClusterSettings(
  s: Settings,
  store: CoordStore,
  log: Logger,
  opts: { seed?: boolean } = {},
): Promise<{ service: ClusterSettingsService; current: EffectiveConfig }> {
  const service = new ClusterSettingsService({ store, log: log.child({ mod: 'settings' }) });
  let stored: StoredClusterSettings;
  if (opts.seed === false) {
    const got = await service.get();
    if (!got) throw new SettingsError('the coordination store holds no cluster settings: run `portway cluster init` on the first node first');
    stored = got;
  } else {
    const fromFile = fileClusterSettings(s);
    const r = await service.seed(fromFile, s.node);
    stored = r.stored;
    if (!r.seeded) {
      const differ = settingsChanges(stored.settings, fromFile);
      // Only a file that sets cluster fields can differ from the defaults; say that they are not used.
      if (differ.length > 0 && JSON.stringify(s.cluster) !== JSON.stringify(DEFAULT_CONFIG))
        log.warn({ version: stored.version, ignored: differ.map((d) => d.field) }, "the cluster settings in the coordination store win over this node's file");
    }
  }
  return { service, current: effectiveConfig(s, stored) };
}
