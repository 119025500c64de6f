/**
 * Cluster events: this server watches the disks, owners and nodes in the store, and on every change
 * compares the cluster's health with the last look (domain/health.ts): a node down or back, a disk
 * degraded or recovered, a path its node failed to serve or served again. The agent of this process
 * adds its fences; the infrastructure probe (infra-probe.ts, every 10 s) Ceph's health not OK and
 * etcd members that do not answer. Each event is stored (`<root>/events/<id>`, the newest `maxEvents` kept), kept in
 * memory for the API, and POSTed as JSON to the webhook URL set in the store (`<root>/settings/webhook`).
 *
 * Several servers each watch and each would record the same event: run the event service on one
 * server per cluster (the one `portway serve` that serves the web UI).
 */
import type { Logger } from 'pino';
import type { CoordStore, Watch } from '../adapters/coord/types.js';
import { clusterView } from '../domain/cluster-view.js';
import { type ClusterEvent, type HealthSnapshot, type Problem, checkWebhookUrl, healthEvents, healthOf, overall } from '../domain/health.js';
import { DISKS, NODES, OWNERS, ROOT } from '../domain/keys.js';
import { type Failure, fail } from '../domain/outcomes.js';
import { Coalescer } from '../util/async.js';
import { errText } from '../util/errors.js';

export const EVENTS = `${ROOT}/events/`;
export const WEBHOOK_KEY = `${ROOT}/settings/webhook`;
const DEFAULT_MAX_EVENTS = 1000;
const WEBHOOK_TIMEOUT_MS = 5000;
/** Between looks after changes: the last look's duration times this, at most PACE_MAX_MS (see paced()). */
const PACE_FACTOR = 8;
const PACE_MAX_MS = 500;

export interface EventServiceOptions {
  store: CoordStore;
  log: Logger;
  /** Events kept (store and memory); older ones are deleted. */
  maxEvents?: number;
  /**
   * What Portway runs on (services/infra-probe.ts: Ceph's health, etcd members), asked every
   * `infraEveryMs` (default 10 s); its problems join the store's.
   */
  infra?: () => Promise<Problem[]>;
  infraEveryMs?: number;
}

export interface Health {
  status: 'ok' | 'warning' | 'critical';
  problems: Problem[];
  nodesUp: number;
  nodesKnown: number;
}

export class EventService {
  private last: HealthSnapshot | undefined;
  private readonly known = new Set<string>();
  private events: ClusterEvent[] = [];
  private watches: Watch[] = [];
  private readonly checker: Coalescer;
  private seq = 0;
  private webhook: string | undefined;
  private readonly listeners = new Set<(e: ClusterEvent) => void>();
  /** Deliveries in flight (close() waits for them). */
  private readonly sending = new Set<Promise<void>>();
  /** The infrastructure's problems at the last probe (before the first: those still open in the events). */
  private infra = new Map<string, Problem>();
  private infraTimer: NodeJS.Timeout | undefined;
  private probing: Promise<void> | undefined;

  constructor(private readonly o: EventServiceOptions) {
    this.checker = new Coalescer(
      () => this.paced(),
      (e) => o.log.warn({ err: errText(e) }, 'health check failed'),
    );
  }

  private get max(): number {
    return this.o.maxEvents ?? DEFAULT_MAX_EVENTS;
  }

  async start(): Promise<void> {
    const stored = await this.o.store.list(EVENTS);
    this.events = stored.flatMap((kv) => {
      try {
        return [JSON.parse(kv.value) as ClusterEvent];
      } catch {
        return [];
      }
    });
    const wh = await this.o.store.get(WEBHOOK_KEY);
    this.webhook = wh ? parseWebhook(wh.value) : undefined;
    // The nodes that were up when it last looked: a node down while this server was away is still down.
    for (const e of this.events) if (e.subject.startsWith('node:')) this.known.add(e.subject.slice(5));
    // Infrastructure problems still open: the first probe says whether they are gone (and clears them).
    if (this.o.infra)
      for (const e of openProblems(this.events).values())
        if (e.kind === 'ceph_unhealthy' || e.kind === 'etcd_member_down')
          this.infra.set(e.subject, { kind: e.kind, severity: e.severity, subject: e.subject, message: e.message });
    await this.check(true);
    const trigger = () => void this.checker.trigger();
    for (const prefix of [DISKS, OWNERS, NODES]) this.watches.push(await this.o.store.watch(prefix, trigger, trigger));
    this.watches.push(
      await this.o.store.watch(WEBHOOK_KEY, (ev) => {
        this.webhook = ev.type === 'put' ? parseWebhook(ev.value ?? '') : undefined;
      }),
    );
    if (this.o.infra) {
      const probe = this.o.infra;
      const tick = () => {
        if (this.probing) return;
        this.probing = probe()
          .then((problems) => {
            this.infra = new Map(problems.map((p) => [p.subject, p]));
            return this.checker.trigger();
          })
          .catch((e) => this.o.log.warn({ err: errText(e) }, 'infrastructure probe failed'))
          .finally(() => {
            this.probing = undefined;
          });
      };
      this.infraTimer = setInterval(tick, this.o.infraEveryMs ?? 10_000);
      tick();
    }
  }

  async close(): Promise<void> {
    if (this.infraTimer) clearInterval(this.infraTimer);
    this.infraTimer = undefined;
    await this.probing;
    await Promise.all(this.watches.map((w) => w.close().catch(() => {})));
    this.watches = [];
    await this.checker.trigger();
    await Promise.allSettled([...this.sending]);
  }

  /** Looks at the store now (the watches call it; tests may too). */
  refresh(): Promise<void> {
    return this.checker.trigger();
  }

  /** When the last look ended, and how long it took (ms, monotonic). */
  private lastCheck = { end: Number.NEGATIVE_INFINITY, took: 0 };

  /**
   * A look after a change comes at least PACE_FACTOR times the last look's duration after it: each look reads
   * and assembles every disk, owner and node, and the changes of a cold start or a failover (two store
   * writes per disk) made it run back to back, a fifth of the process's CPU with 200 disks. A few
   * disks: a ms or two between looks; 500: a few tens of ms (changes meanwhile are seen together).
   */
  private async paced(): Promise<void> {
    const wait = this.lastCheck.end + Math.min(PACE_MAX_MS, this.lastCheck.took * PACE_FACTOR) - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const t0 = performance.now();
    try {
      await this.check();
    } finally {
      const end = performance.now();
      this.lastCheck = { end, took: end - t0 };
    }
  }

  private async check(first = false): Promise<void> {
    const kvs = (await Promise.all([DISKS, OWNERS, NODES].map((p) => this.o.store.list(p)))).flat();
    const v = clusterView(kvs);
    const live = new Set(v.nodes.keys());
    for (const n of live) this.known.add(n);
    for (const d of v.disks.values()) for (const o of d.owners.values()) this.known.add(o.node);
    const next = healthOf(v.disks, live, this.known);
    for (const [k, p] of this.infra) next.problems.set(k, p);
    const prev = this.last;
    this.last = next;
    if (first || !prev) {
      // At start: what is wrong now and was not recorded as still open is recorded once.
      const open = openProblems(this.events);
      for (const p of next.problems.values())
        if (!open.has(p.subject)) await this.record({ kind: p.kind, severity: p.severity, subject: p.subject, message: p.message });
      return;
    }
    for (const e of healthEvents(prev, next)) await this.record(e);
  }

  /** The agent of this process fenced itself. */
  fence(node: string, reason: string): void {
    void this.record({ kind: 'fence', severity: 'critical', subject: `node:${node}`, message: `Node ${node} fenced itself: ${reason}.` });
  }

  /** A scheduled snapshot or its retention failed (services/snapshot-scheduler.ts). */
  snapshotFailed(disk: string, message: string): Promise<void> {
    return this.record({ kind: 'snapshot_failed', severity: 'warning', subject: `disk:${disk}`, message });
  }

  private async record(e: Omit<ClusterEvent, 'id' | 'at'>): Promise<void> {
    const at = new Date();
    const id = `${at.getTime().toString().padStart(14, '0')}-${(this.seq++ % 1e6).toString().padStart(6, '0')}`;
    const ev: ClusterEvent = { id, at: at.toISOString(), ...e };
    this.events.push(ev);
    const drop = this.events.length > this.max ? this.events.splice(0, this.events.length - this.max) : [];
    this.o.log.info({ event: ev.kind, subject: ev.subject }, ev.message);
    for (const l of this.listeners) l(ev);
    try {
      await this.o.store.put(`${EVENTS}${id}`, JSON.stringify(ev));
      for (const old of drop) await this.o.store.delete(`${EVENTS}${old.id}`);
    } catch (err) {
      this.o.log.warn({ err: errText(err) }, 'cannot store the event');
    }
    if (this.webhook) this.deliver(this.webhook, ev);
  }

  private deliver(url: string, ev: ClusterEvent): void {
    const p = (async () => {
      try {
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'user-agent': 'portway-events' },
          body: JSON.stringify({ event: ev }),
          signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
        });
        if (!res.ok) this.o.log.warn({ status: res.status, event: ev.id }, 'the webhook refused the event');
        await res.body?.cancel().catch(() => {});
      } catch (err) {
        this.o.log.warn({ err: errText(err), event: ev.id }, 'the webhook did not answer');
      }
    })();
    this.sending.add(p);
    void p.finally(() => this.sending.delete(p));
  }

  /** Newest first. */
  list(limit = 100): ClusterEvent[] {
    return this.events.slice(-Math.max(1, Math.min(limit, this.max))).reverse();
  }

  health(): Health {
    const problems = [...(this.last?.problems.values() ?? [])];
    return { status: overall(problems), problems, nodesUp: this.last?.live.size ?? 0, nodesKnown: this.known.size };
  }

  /** Called with every new event (the API's live stream). */
  onEvent(l: (e: ClusterEvent) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  getWebhook(): string | null {
    return this.webhook ?? null;
  }

  async setWebhook(url: string | null): Promise<{ ok: true; url: string | null } | Failure> {
    try {
      if (url === null || url === '') {
        await this.o.store.delete(WEBHOOK_KEY);
        this.webhook = undefined;
        return { ok: true, url: null };
      }
      const c = checkWebhookUrl(url);
      if (!c.ok) return fail('invalid_request', c.message, 'url');
      await this.o.store.put(WEBHOOK_KEY, JSON.stringify({ url: c.url }));
      this.webhook = c.url;
      return { ok: true, url: c.url };
    } catch (e) {
      this.o.log.error({ err: errText(e) }, 'cannot store the webhook');
      return fail('coordination_error', 'The coordination store did not accept the change; try again.');
    }
  }
}

function parseWebhook(value: string): string | undefined {
  try {
    const c = checkWebhookUrl((JSON.parse(value) as { url?: unknown }).url);
    return c.ok ? c.url : undefined;
  } catch {
    return undefined;
  }
}

/** Subjects whose last recorded event raised a problem (not cleared since), with that event. */
function openProblems(events: readonly ClusterEvent[]): Map<string, ClusterEvent> {
  const open = new Map<string, ClusterEvent>();
  for (const e of events) {
    if (e.kind === 'fence' || e.kind === 'snapshot_failed') continue;
    if (e.clears) open.delete(e.subject);
    else open.set(e.subject, e);
  }
  return open;
}
