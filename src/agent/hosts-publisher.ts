/**
 * Beside the serve path: every few seconds, asks each tgtd this node runs who is logged in to it and
 * how much I/O it did (adapters/tgt/sessions.ts), and records the connected hosts per disk in the store
 * (domain/hosts.ts: `<root>/hosts/<disk>/<node>`, written only when they change). Each sample is also
 * handed to `onSample` (the I/O rates). It reads tgtd and writes its own keys only: it never changes
 * what is served. The agent starts and stops it (AgentOptions.sidecar).
 */
import type { Logger } from 'pino';
import type { CoordStore } from '../adapters/coord/types.js';
import { type TargetSample, type TargetTextSource, readTargetSessions } from '../adapters/tgt/sessions.js';
import type { TargetUnit } from '../adapters/tgt/types.js';
import { type HostSession, hostsKey, parseHosts } from '../domain/hosts.js';
import { HOSTS } from '../domain/keys.js';
import { type Counters, type IoRecord, type Rate, ioKey, ratesBetween } from '../domain/io-rates.js';
import { recordJson } from '../domain/records.js';
import { mapSettled } from '../util/async.js';
import { errText } from '../util/errors.js';

export const DEFAULT_SAMPLE_MS = 3000;

export interface HostsPublisherOptions {
  node: string;
  store: CoordStore;
  target: TargetTextSource & { units(): Promise<TargetUnit[]> };
  /** The iSCSI portal port (3260). */
  iscsiPort?: number;
  log: Logger;
  everyMs?: number;
  /** Every sample: disk id -> what its tgtd said, and when (ms since the epoch). */
  onSample?: (samples: ReadonlyMap<string, TargetSample & { pid: number }>, at: number) => void;
}

export class HostsPublisher {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  /** disk -> its last sample (its tgtd's pid: a new tgtd starts over). */
  private readonly last = new Map<string, { pid: number; sample: TargetSample }>();
  /** `${disk}/${pid}/${sid}` -> when this node first saw the session (ISO). */
  private readonly firstSeen = new Map<string, string>();
  /** disk -> the JSON of the sessions last written ('' = none written). */
  private readonly published = new Map<string, string>();
  private swept = false;
  /** The session counters of the previous sample, and when it was taken (the I/O rates' base). */
  private lastCounters: { at: number; counters: Map<string, Counters> } | undefined;
  /** The last I/O record written had some I/O (an idle node writes one all-idle record, then nothing). */
  private ioBusy = false;

  constructor(private readonly o: HostsPublisherOptions) {}

  start(): void {
    if (this.timer || this.stopped) return;
    const tick = () => {
      if (this.running || this.stopped) return;
      this.running = this.sampleOnce()
        .catch((e) => this.o.log.warn({ err: errText(e) }, 'sampling the targets failed'))
        .finally(() => {
          this.running = undefined;
        });
    };
    this.timer = setInterval(tick, this.o.everyMs ?? DEFAULT_SAMPLE_MS);
    tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One sample of every tgtd of this node; the hosts records brought up to date. */
  async sampleOnce(): Promise<void> {
    if (!this.swept) await this.adoptOld();
    const at = Date.now();
    const units = (await this.o.target.units()).filter((u) => u.alive && u.disk !== '');
    const samples = new Map<string, TargetSample & { pid: number }>();
    await mapSettled(units, 16, async (u) => {
      const prev = this.last.get(u.disk);
      try {
        const s = await readTargetSessions(this.o.target, u, this.o.iscsiPort ?? 3260, prev && prev.pid === u.pid ? prev.sample : undefined);
        this.last.set(u.disk, { pid: u.pid, sample: s });
        samples.set(u.disk, { ...s, pid: u.pid });
      } catch (e) {
        // A tgtd being stopped or restarted: asked again at the next sample.
        this.last.delete(u.disk);
        this.o.log.debug({ disk: u.disk, err: errText(e) }, 'cannot read the sessions of the target');
      }
    });
    if (this.stopped) return;
    for (const d of [...this.last.keys()]) if (!units.some((u) => u.disk === d)) this.last.delete(d);
    this.o.onSample?.(samples, at);
    const ioWrite = this.publishIo(samples, at);
    const seen = new Set<string>();
    const now = new Date(at).toISOString();
    const writes: Promise<unknown>[] = [];
    for (const u of units) {
      const s = samples.get(u.disk);
      if (!s) continue;
      const sessions: HostSession[] = s.sessions
        .filter((x) => x.initiator !== '')
        .map((x) => {
          const k = `${u.disk}/${u.pid}/${x.sid}`;
          seen.add(k);
          let since = this.firstSeen.get(k);
          if (since === undefined) {
            since = now;
            this.firstSeen.set(k, since);
          }
          return { iqn: x.initiator, address: x.connections[0]?.address ?? '', portal: x.portal, connections: x.connections.length, since };
        });
      writes.push(this.publish(u.disk, sessions));
    }
    for (const k of [...this.firstSeen.keys()]) if (!seen.has(k)) this.firstSeen.delete(k);
    // Disks this node no longer runs a target for: their records go.
    for (const d of [...this.published.keys()]) if (!units.some((u) => u.disk === d)) writes.push(this.publish(d, []));
    await Promise.all([...writes, ioWrite]);
  }

  /** The I/O rates since the previous sample, at `<root>/io/<node>` (domain/io-rates.ts). */
  private async publishIo(samples: ReadonlyMap<string, TargetSample & { pid: number }>, at: number): Promise<void> {
    const counters = new Map<string, Counters>();
    for (const [disk, s] of samples) for (const [sid, c] of s.perSession) counters.set(`${disk}/${s.pid}/${sid}`, c);
    const prev = this.lastCounters;
    this.lastCounters = { at, counters };
    if (!prev) return;
    const rates = ratesBetween(prev.counters, counters, at - prev.at, (k) => k.slice(0, k.indexOf('/')));
    if (rates.size === 0 && !this.ioBusy) return;
    const rec: IoRecord = {
      at,
      intervalMs: at - prev.at,
      disks: Object.fromEntries([...rates].map(([d, r]) => [d, r.map((x) => Math.round(x * 10) / 10) as Rate])),
    };
    try {
      await this.o.store.put(ioKey(this.o.node), JSON.stringify(rec));
      this.ioBusy = rates.size > 0;
    } catch (e) {
      this.o.log.debug({ err: errText(e) }, 'cannot record the I/O rates');
    }
  }

  private async publish(disk: string, sessions: HostSession[]): Promise<void> {
    const text = sessions.length ? JSON.stringify(sessions) : '';
    if ((this.published.get(disk) ?? '') === text) return;
    try {
      if (text === '') {
        await this.o.store.delete(hostsKey(disk, this.o.node));
        this.published.delete(disk);
      } else {
        await this.o.store.put(hostsKey(disk, this.o.node), recordJson('hosts', { sessions, at: new Date().toISOString() }));
        this.published.set(disk, text);
      }
    } catch (e) {
      this.o.log.warn({ disk, err: errText(e) }, 'cannot record the connected hosts of the disk');
    }
  }

  /** Once: records of this node a previous run left are taken as published, to be rewritten or deleted. */
  private async adoptOld(): Promise<void> {
    try {
      for (const kv of await this.o.store.list(HOSTS)) {
        const r = parseHosts(kv.key, kv.value);
        if (r && r.node === this.o.node && !this.published.has(r.id)) this.published.set(r.id, '(previous run)');
      }
      this.swept = true;
    } catch (e) {
      this.o.log.debug({ err: errText(e) }, 'cannot read old hosts records yet');
    }
  }
}
