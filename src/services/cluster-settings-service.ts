/**
 * The cluster settings in the coordination store (domain/cluster-settings.ts): read, seed (the first
 * node's file, or `portway cluster init`), change (validated, stranded path IPs refused, compare-and-set
 * on the key's revision so two changes never both win), and watched: every API server and agent is told
 * each new version without a restart.
 */
import type { Logger } from 'pino';
import type { CoordStore, Watch } from '../adapters/coord/types.js';
import {
  type ClusterSettings,
  type PathIp,
  type StoredClusterSettings,
  applyPatch,
  checkClusterSettings,
  parseStoredSettings,
  settingsChanges,
  strandedPaths,
} from '../domain/cluster-settings.js';
import { CLUSTER_SETTINGS, DISKS, parseKey } from '../domain/keys.js';
import { type Failure, fail } from '../domain/outcomes.js';
import { readRecord, recordJson } from '../domain/records.js';
import { errText } from '../util/errors.js';

export type SettingsResult<T> = ({ ok: true } & T) | Failure;

export interface SettingsChange {
  before: StoredClusterSettings;
  after: StoredClusterSettings;
  changes: { field: string; from: string | number; to: string | number }[];
}

export class ClusterSettingsService {
  private watch: Watch | undefined;
  private current: StoredClusterSettings | undefined;
  private readonly listeners = new Set<(s: StoredClusterSettings) => void>();

  constructor(private readonly o: { store: CoordStore; log: Logger }) {}

  /** The stored settings with the key's revision; undefined when none are stored (cluster not initialised). */
  private async read(): Promise<{ stored: StoredClusterSettings; modRevision: number } | undefined> {
    const kv = await this.o.store.get(CLUSTER_SETTINGS);
    if (!kv) return undefined;
    const stored = parseStoredSettings(readRecord('clusterSettings', kv.value));
    if (!stored) throw new Error(`the cluster settings at ${CLUSTER_SETTINGS} are unreadable`);
    return { stored, modRevision: kv.modRevision };
  }

  async get(): Promise<StoredClusterSettings | undefined> {
    return (await this.read())?.stored;
  }

  /**
   * The stored settings, or these (version 1) written when none are: the first node's file seeds the
   * store; every later start reads what is stored (it wins over any cluster fields in the file).
   */
  async seed(settings: ClusterSettings, by: string): Promise<{ stored: StoredClusterSettings; seeded: boolean }> {
    const c = checkClusterSettings(settings);
    if (!c.ok) throw new Error(c.message);
    for (;;) {
      const r = await this.read();
      if (r) return { stored: r.stored, seeded: false };
      const stored: StoredClusterSettings = { version: 1, settings, changedAt: new Date().toISOString(), changedBy: by };
      if (
        await this.o.store.txn(
          [{ key: CLUSTER_SETTINGS, modRevision: 0 }],
          [{ type: 'put', key: CLUSTER_SETTINGS, value: recordJson('clusterSettings', stored) }],
        )
      ) {
        this.o.log.info({ version: 1, by }, 'cluster settings seeded');
        return { stored, seeded: true };
      }
    }
  }

  /** Every disk path's IP in the store (what a subnet change must not strand). */
  private async pathIps(): Promise<PathIp[]> {
    const out: PathIp[] = [];
    for (const kv of await this.o.store.list(DISKS)) {
      const k = parseKey(kv.key);
      if (k.kind !== 'path') continue;
      const ip = (readRecord('path', kv.value) as { ip?: unknown } | undefined)?.ip;
      if (typeof ip === 'string') out.push({ disk: k.id, path: k.index, ip });
    }
    return out;
  }

  /**
   * Applies a change. expectedVersion: refuse (settings_version_conflict) if the settings moved on since
   * the version the change was based on (the web form); without it, the change applies to the latest.
   */
  async change(patch: unknown, by: string, expectedVersion?: number): Promise<SettingsResult<SettingsChange>> {
    try {
      for (let attempt = 0; attempt < 5; attempt++) {
        const r = await this.read();
        if (!r) return fail('cluster_not_initialised', 'The cluster has no settings yet: run `portway cluster init` on the first node.');
        if (expectedVersion !== undefined && r.stored.version !== expectedVersion)
          return fail(
            'settings_version_conflict',
            `The settings changed meanwhile (now version ${r.stored.version}, the change was based on ${expectedVersion}); reload and try again.`,
            'version',
            { version: r.stored.version },
          );
        const next = applyPatch(r.stored.settings, patch);
        if (!next.ok) return next;
        const before = r.stored.settings;
        const after = next.settings;
        const changes = settingsChanges(before, after);
        if (changes.length === 0) return { ok: true, before: r.stored, after: r.stored, changes };
        const paths = await this.pathIps();
        if (after.pool !== before.pool && paths.length > 0)
          return fail('settings_pool_in_use', `Disks exist in pool ${before.pool}: the pool cannot change while they do.`, 'pool');
        const stranded = strandedPaths(before, after, paths);
        if (stranded.length > 0) {
          const names = stranded.map((p) => `${p.ip} (disk ${p.disk} path ${p.path})`);
          return fail(
            'settings_strand_ip',
            `The new subnets would leave ${stranded.length} served IP(s) outside their subnet: ${names.slice(0, 5).join(', ')}${stranded.length > 5 ? ', ...' : ''}. Move or delete those disks first.`,
            changes.find((c) => c.field.endsWith('.cidr'))?.field.split('.')[0] ?? 'subnet1',
            { paths: stranded },
          );
        }
        const stored: StoredClusterSettings = { version: r.stored.version + 1, settings: after, changedAt: new Date().toISOString(), changedBy: by };
        const done = await this.o.store.txn(
          [{ key: CLUSTER_SETTINGS, modRevision: r.modRevision }],
          [{ type: 'put', key: CLUSTER_SETTINGS, value: recordJson('clusterSettings', stored) }],
        );
        if (done) {
          this.o.log.info({ version: stored.version, by, changes }, 'cluster settings changed');
          return { ok: true, before: r.stored, after: stored, changes };
        }
      }
      return fail('conflict', 'The settings kept changing under this change; try again.');
    } catch (e) {
      this.o.log.error({ err: errText(e) }, 'cluster settings not changed');
      return fail('coordination_error', 'The cluster settings cannot be changed in the coordination store right now; try again.');
    }
  }

  /** The last version seen by the watch (after start). */
  latest(): StoredClusterSettings | undefined {
    return this.current;
  }

  /** Called with every new version (not with the one current when it is added). */
  onChange(fn: (s: StoredClusterSettings) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Watches the key: every new version goes to the listeners; a watch reset re-reads it. */
  async start(initial: StoredClusterSettings): Promise<void> {
    this.current = initial;
    const deliver = (s: StoredClusterSettings | undefined): void => {
      if (!s || (this.current && s.version <= this.current.version)) return;
      this.current = s;
      for (const fn of this.listeners) {
        try {
          fn(s);
        } catch (e) {
          this.o.log.error({ err: errText(e) }, 'cluster settings listener failed');
        }
      }
    };
    this.watch = await this.o.store.watch(
      CLUSTER_SETTINGS,
      (ev) => {
        if (ev.key !== CLUSTER_SETTINGS || ev.type !== 'put') return;
        try {
          deliver(parseStoredSettings(readRecord('clusterSettings', ev.value)));
        } catch (e) {
          this.o.log.warn({ err: errText(e) }, 'unreadable cluster settings ignored');
        }
      },
      () => void this.get().then(deliver, (e: unknown) => this.o.log.warn({ err: errText(e) }, 'cluster settings not re-read after a watch reset')),
    );
    // A change between the read and the watch: read once more.
    deliver(await this.get());
  }

  async close(): Promise<void> {
    await this.watch?.close();
    this.watch = undefined;
  }
}
