/**
 * Prometheus metrics (prom-client), served as text at GET /metrics (routes/metrics.ts). One registry per
 * product, not prom-client's global one. What each figure is and where it comes from:
 *
 * - portway_disks{status}: disks by status, from the disk list (the store).
 * - portway_node_up{node}: 1 for a node whose lease key is in the store, 0 for one this server saw before
 *   (or that holds paths or is drained) but whose key is gone.
 * - portway_node_paths_served{node}: paths whose owner record says served, per node (the store).
 * - portway_path_moves_total / portway_failovers_total: a path's owner record changing node, seen by this
 *   server's watch of the owner keys; a failover when the node that held it was no longer live then.
 * - portway_fences_total{node}: fences of the agent running in this process (its onFence).
 * - portway_disk_{read,write}_bytes_total / portway_disk_{reads,writes}_total{disk,node}: I/O completed
 *   by the target of each disk on this process's node, from tgtd's own per-session counters
 *   (`tgtadm --op stat`), summed as deltas (sessions come and go; counters never go back).
 * - portway_http_request_duration_seconds{method,route,status_code}: every API request, by route pattern.
 * - portway_agent_reconcile_duration_seconds{node,result}: every reconcile of the agent running in this
 *   process (its onReconcile: observe, plan, act), ok or error.
 * - process and Node.js metrics of this process (prom-client's defaults, prefixed portway_).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from 'pino';
import type { CoordStore, Watch } from '../adapters/coord/types.js';
import type { TargetSample } from '../adapters/tgt/sessions.js';
import { DISK_STATUSES } from '../domain/disk.js';
import { NODES, OWNERS, DRAINED } from '../domain/keys.js';
import { readRecord } from '../domain/records.js';
import { errText } from '../util/errors.js';

export class Metrics {
  readonly registry = new Registry();
  readonly httpDuration: Histogram<'method' | 'route' | 'status_code'>;
  readonly fences: Counter<'node'>;
  readonly reconcileDuration: Histogram<'node' | 'result'>;
  private readonly pathMoves: Counter;
  private readonly failovers: Counter;
  private readonly readBytes: Counter<'disk' | 'node'>;
  private readonly writeBytes: Counter<'disk' | 'node'>;
  private readonly reads: Counter<'disk' | 'node'>;
  private readonly writes: Counter<'disk' | 'node'>;
  /** Nodes this server has seen: a node gone from the store shows 0, not nothing. */
  private readonly knownNodes = new Set<string>();
  /** owner key -> node, as last seen by the watch. */
  private readonly owners = new Map<string, string>();
  private liveNodes = new Set<string>();
  private watches: Watch[] = [];
  /** `${disk}/${tgtd pid}/${sid}` -> the counters last added. */
  private readonly lastIo = new Map<string, { readBytes: number; reads: number; writeBytes: number; writes: number }>();

  constructor(
    private readonly o: {
      store: CoordStore;
      /** Disk statuses now (the disk service's list). */
      diskStatuses: () => Promise<readonly string[] | undefined>;
      node: string;
      log: Logger;
    },
  ) {
    const r = this.registry;
    collectDefaultMetrics({ register: r, prefix: 'portway_' });
    this.httpDuration = new Histogram({
      name: 'portway_http_request_duration_seconds',
      help: 'API request latency, by method, route pattern and status code',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [r],
    });
    this.reconcileDuration = new Histogram({
      name: 'portway_agent_reconcile_duration_seconds',
      help: 'Reconciles of the agent running in this process (observe, plan, act), ok or error',
      labelNames: ['node', 'result'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [r],
    });
    this.fences = new Counter({ name: 'portway_fences_total', help: 'Fences of the agent in this process', labelNames: ['node'], registers: [r] });
    this.pathMoves = new Counter({ name: 'portway_path_moves_total', help: 'Paths that changed node while the node holding them was live', registers: [r] });
    this.failovers = new Counter({ name: 'portway_failovers_total', help: 'Paths taken over from a node that was no longer live', registers: [r] });
    const io = (name: string, help: string) => new Counter({ name, help, labelNames: ['disk', 'node'] as const, registers: [r] });
    this.readBytes = io('portway_disk_read_bytes_total', "Bytes read by initiators from the disk's target on this node (tgtd counters)");
    this.writeBytes = io('portway_disk_written_bytes_total', "Bytes written by initiators to the disk's target on this node (tgtd counters)");
    this.reads = io('portway_disk_reads_total', "Read commands completed by the disk's target on this node (tgtd counters)");
    this.writes = io('portway_disk_writes_total', "Write commands completed by the disk's target on this node (tgtd counters)");
    const self = this;
    new Gauge({
      name: 'portway_disks',
      help: 'Disks by status',
      labelNames: ['status'],
      registers: [r],
      async collect() {
        const statuses = await self.o.diskStatuses().catch(() => undefined);
        if (!statuses) return;
        const by = new Map<string, number>(DISK_STATUSES.map((s) => [s, 0]));
        for (const s of statuses) by.set(s, (by.get(s) ?? 0) + 1);
        for (const [status, n] of by) this.set({ status }, n);
      },
    });
    new Gauge({
      name: 'portway_node_up',
      help: '1 when the node holds its lease in the store, 0 when a node seen before does not',
      labelNames: ['node'],
      registers: [r],
      async collect() {
        await self.refreshNodes();
        this.reset();
        for (const n of self.knownNodes) this.set({ node: n }, self.liveNodes.has(n) ? 1 : 0);
      },
    });
    new Gauge({
      name: 'portway_node_paths_served',
      help: 'Paths served per node (owner records in state served)',
      labelNames: ['node'],
      registers: [r],
      async collect() {
        const kvs = await self.o.store.list(OWNERS).catch(() => undefined);
        if (!kvs) return;
        const by = new Map<string, number>([...self.knownNodes].map((n) => [n, 0]));
        for (const kv of kvs) {
          const rec = ownerOf(kv.value);
          if (rec?.state === 'served') by.set(rec.node, (by.get(rec.node) ?? 0) + 1);
        }
        this.reset();
        for (const [node, n] of by) this.set({ node }, n);
      },
    });
  }

  /** Starts the owner watch (path moves, failovers). */
  async start(): Promise<void> {
    await this.refreshNodes();
    for (const kv of await this.o.store.list(OWNERS)) {
      const n = ownerOf(kv.value)?.node;
      if (n) this.owners.set(kv.key, n);
    }
    this.watches.push(
      await this.o.store.watch(
        OWNERS,
        (ev) => {
          const before = this.owners.get(ev.key);
          if (ev.type === 'delete') {
            this.owners.delete(ev.key);
            return;
          }
          const now = ownerOf(ev.value ?? '')?.node;
          if (!now) return;
          this.owners.set(ev.key, now);
          this.knownNodes.add(now);
          if (before === undefined || before === now) return;
          if (this.liveNodes.has(before)) this.pathMoves.inc();
          else this.failovers.inc();
        },
        () => void this.refreshNodes(),
      ),
      await this.o.store.watch(NODES, (ev) => {
        const name = ev.key.slice(NODES.length);
        this.knownNodes.add(name);
        if (ev.type === 'put') this.liveNodes.add(name);
        else this.liveNodes.delete(name);
      }),
    );
  }

  async close(): Promise<void> {
    await Promise.all(this.watches.map((w) => w.close().catch(() => {})));
    this.watches = [];
  }

  private async refreshNodes(): Promise<void> {
    try {
      const [nodes, drained] = await Promise.all([this.o.store.list(NODES), this.o.store.list(DRAINED)]);
      this.liveNodes = new Set(nodes.map((kv) => kv.key.slice(NODES.length)));
      for (const n of this.liveNodes) this.knownNodes.add(n);
      for (const kv of drained) this.knownNodes.add(kv.key.slice(DRAINED.length));
      for (const n of this.owners.values()) this.knownNodes.add(n);
    } catch (e) {
      this.o.log.debug({ err: errText(e) }, 'metrics: node list unreadable');
    }
  }

  /** The agent's sample of its tgtds (hosts-publisher.ts onSample): counter deltas per session. */
  addIoSample(samples: ReadonlyMap<string, TargetSample & { pid?: number }>): void {
    const seen = new Set<string>();
    for (const [disk, s] of samples) {
      for (const [sid, c] of s.perSession) {
        const k = `${disk}/${s.pid ?? 0}/${sid}`;
        seen.add(k);
        const was = this.lastIo.get(k) ?? { readBytes: 0, reads: 0, writeBytes: 0, writes: 0 };
        const labels = { disk, node: this.o.node };
        const d = (a: number, b: number) => (a >= b ? a - b : a);
        this.readBytes.inc(labels, d(c.readBytes, was.readBytes));
        this.writeBytes.inc(labels, d(c.writeBytes, was.writeBytes));
        this.reads.inc(labels, d(c.reads, was.reads));
        this.writes.inc(labels, d(c.writes, was.writes));
        this.lastIo.set(k, { ...c });
      }
    }
    for (const k of [...this.lastIo.keys()]) if (!seen.has(k)) this.lastIo.delete(k);
  }
}

function ownerOf(value: string): { node: string; state: string } | undefined {
  try {
    const r = readRecord('owner', value) as { node?: unknown; state?: unknown };
    return typeof r.node === 'string' && typeof r.state === 'string' ? { node: r.node, state: r.state } : undefined;
  } catch {
    return undefined;
  }
}
