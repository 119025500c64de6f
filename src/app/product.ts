/** Wires the product together from its settings: stores, disk service, agent, API. */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { Agent } from '../agent/agent.js';
import { EmbeddedStore } from '../adapters/coord/embedded-store.js';
import type { CoordStore } from '../adapters/coord/types.js';
import { FileImageStore } from '../adapters/images/file-store.js';
import type { ImageStore } from '../adapters/images/types.js';
import { LoopbackNetwork } from '../adapters/net/loopback.js';
import { TgtDriver } from '../adapters/target/tgt.js';
import { buildApi } from '../api/server.js';
import { checkConfig } from '../domain/config.js';
import { DiskService } from '../services/disk-service.js';
import { type Settings, SettingsError } from './settings.js';

export interface Product {
  url: string;
  disks: DiskService;
  agent?: Agent;
  store: CoordStore;
  images: ImageStore;
  /** release: give paths back (targets removed); otherwise leave them for the next start to adopt. */
  stop(opts?: { release?: boolean }): Promise<void>;
}

/** dist/web next to the installed code (dist/src/app -> dist/web; src/app under tsx -> dist/web). */
export function defaultWebDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return here.includes(`${'/'}dist${'/'}`) ? join(here, '..', '..', 'web') : join(here, '..', '..', 'dist', 'web');
}

export async function openStores(s: Settings): Promise<{ store: CoordStore; images: ImageStore }> {
  let images: ImageStore;
  if (s.images.kind === 'file') images = await new FileImageStore(join(s.stateDir, 'images')).init();
  else {
    const { RbdImageStore } = await import('../adapters/images/rbd-store.js');
    images = new RbdImageStore(s.images);
  }
  let store: CoordStore;
  if (s.coord.kind === 'embedded') store = new EmbeddedStore({ dir: join(s.stateDir, 'coord') });
  else {
    const { EtcdStore } = await import('../adapters/coord/etcd-store.js');
    store = new EtcdStore({ hosts: s.coord.endpoints });
  }
  return { store, images };
}

/** The disk service over the settings' stores (no agent, no API). */
export async function openDiskService(s: Settings, log: Logger): Promise<{ disks: DiskService; store: CoordStore; images: ImageStore }> {
  const checked = checkConfig(s.cluster);
  if (!checked.ok) throw new SettingsError(checked.message);
  const { store, images } = await openStores(s);
  const disks = new DiskService({
    store,
    images,
    subnet1: checked.subnet1,
    subnet2: checked.subnet2,
    iqnBase: s.cluster.iqnBase,
    pool: s.cluster.pool,
    log: log.child({ mod: 'disks' }),
  });
  return { disks, store, images };
}

export async function startProduct(s: Settings, log: Logger): Promise<Product> {
  const checked = checkConfig(s.cluster);
  if (!checked.ok) throw new SettingsError(checked.message);
  const { disks, store, images } = await openDiskService(s, log);
  let agent: Agent | undefined;
  if (s.agent.enabled) {
    const target = new TgtDriver({
      runDir: join(s.stateDir, 'run', 'tgt'),
      logDir: join(s.stateDir, 'log'),
      controlPortBase: s.tgtControlPortBase,
      log: log.child({ mod: 'tgt' }),
    });
    agent = new Agent({ node: s.node, store, images, target, net: new LoopbackNetwork(), log: log.child({ mod: 'agent' }), leaseTtlSeconds: s.agent.leaseTtlSeconds });
    await agent.start();
  }
  const app = await buildApi({ disks, config: s.cluster, subnet1: checked.subnet1, subnet2: checked.subnet2, log: log.child({ mod: 'api' }), webDir: s.webDir ?? defaultWebDir() });
  await app.listen({ host: s.listenHost, port: s.listenPort });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : s.listenPort;
  const url = `http://${s.listenHost.includes(':') ? `[${s.listenHost}]` : s.listenHost}:${port}`;
  log.info({ url, node: s.node, images: s.images.kind, coord: s.coord.kind }, 'portway is up');
  let stopped = false;
  return {
    url,
    disks,
    ...(agent ? { agent } : {}),
    store,
    images,
    async stop(opts = {}) {
      if (stopped) return;
      stopped = true;
      await app.close();
      await agent?.stop({ release: opts.release ?? true });
      await store.close();
    },
  };
}
