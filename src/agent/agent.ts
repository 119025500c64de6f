/**
 * The node agent (PetaSAN's iscsi_service): takes the paths no node holds under its own lease, makes
 * their IPs live, serves their targets, and gives back what it should no longer hold. It reconciles
 * the store's desired state with tgtd's actual portals on every change, every few seconds, and at
 * start (adopting the daemons and keys a previous run of this node left, so a restart flaps nothing).
 *
 * Admin moves: a key `moves/<id>/<n>` names the node that is to take path n. Its owner releases it
 * (target removed, IP dropped, owner key deleted), and only the named node takes it while the intent
 * stands; that node deletes the intent once it serves the path. A path never has two owners: the owner
 * key is created only when absent, and deleted only after the old owner stopped serving.
 * Drained nodes (`drained/<name>`) take no paths, and move the paths they hold away one intent each.
 *
 * Fencing: the lease is renewed every ttl/6. A watchdog fires `fenceAfter` (60% of the ttl) after the
 * last successful renewal was *sent*: the agent then SIGKILLs its tgtds and drops its path IPs, before
 * the store can expire the lease and hand the paths to another node. See docs/HA.md.
 *
 * A new lease TTL in the cluster settings is applied live (moveLease, the first step of a reconcile): a
 * new lease is granted, both are renewed and the fence deadline is the earlier of the two while this
 * node's keys move over (domain/lease-move.ts), then the old lease is revoked. Nothing is given back.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { ImageStore } from '../adapters/images/types.js';
import type { HostNetwork } from '../adapters/net/loopback.js';
import type { TargetDriver, TargetSpec, TargetUnit } from '../adapters/tgt/types.js';
import { type CoordStore, CoordError, type KeyValue, type Lease, type Watch } from '../adapters/coord/types.js';
import { type AgentPlan, type PlannedPath, planAgent } from '../domain/agent-plan.js';
import { type ClusterView, clusterView, ownerNodeOf } from '../domain/cluster-view.js';
import { type DiskMeta, imageName, parseDiskMeta, placementOf } from '../domain/disk.js';
import {
  type DiskState,
  type MoveIntent,
  type NodeRecord,
  DISKS,
  DRAINED,
  MOVES,
  NODES,
  OWNERS,
  type OwnerRecord,
  moveKey,
  nodeKey,
  ownerKey,
  servedKey,
} from '../domain/keys.js';
import { prefixOfMask } from '../domain/ip.js';
import { type ClientsRecord, clientsKey, clientsPrefix, ipOfClient, parseClients } from '../domain/storage-clients.js';
import { recordJson } from '../domain/records.js';
import { type StoredClusterSettings, subnetOfIp } from '../domain/cluster-settings.js';
import { warmPoolSize } from '../domain/warm-pool.js';
import { earliestDeadline, leaseTtlChange, planLeaseMove, remainingOnLease, splitBatch } from '../domain/lease-move.js';
import { Coalescer, mapSettled } from '../util/async.js';
import { errText } from '../util/errors.js';
import type { GuardClient } from './guard-client.js';
import { deadlineFromRenewal, monoMs } from './guard.js';

/** What the agent reads and watches: not the auth, audit or lock keys, which change often and are not its business. */
const AGENT_PREFIXES = [DISKS, OWNERS, NODES, MOVES, DRAINED];

/**
 * Disks claimed and served at once by default. A takeover's disks each wait on a few etcd transactions,
 * control requests and TCP connects, mostly idle time of the agent: 48 at once served a 50-disk
 * takeover (100 paths) in 560-610 ms on the 2-CPU harness where 16 took 580-1,180 ms
 * (bench/RESULTS.md, "Failover at scale", 2026-12-06).
 */
const SERVE_CONCURRENCY = 48;

export interface AgentOptions {
  node: string;
  store: CoordStore;
  images: ImageStore;
  target: TargetDriver;
  net: HostNetwork;
  log: Logger;
  leaseTtlSeconds?: number;
  resyncMs?: number;
  /** Disks claimed and served in parallel (default 48): each is a tgtd start and a few control requests. */
  concurrency?: number;
  /** Fence after this share of the ttl without a successful renewal (default 0.6). */
  fenceAfterRatio?: number;
  /** Called after every fence (tests, metrics). */
  onFence?: (info: FenceInfo) => void;
  /** Called after every reconcile that ran (metrics): how long it took, and whether it threw. */
  onReconcile?: (seconds: number, ok: boolean) => void;
  /**
   * The fence guard (guard.ts), a separate process that fences this node if the agent dies or hangs:
   * told every path IP before it is added, and fed a deadline after every renewal once the keys of
   * this node are under the current lease (adopted at the first reconcile after a join).
   */
  guard?: GuardClient;
  /**
   * Storage fencing (Ceph mode): before serving a shared disk taken over from another node, blocklist
   * the image's other RBD clients and wait until the OSDs refuse them. Default on; off only for tests
   * that measure what it prevents.
   */
  storageFencing?: boolean;
  /** At most this many idle target processes kept ready for takeovers (domain/warm-pool.ts; default 32, 0: none). */
  warmTargets?: number;
  /**
   * Work beside the serve path that reads what is served and never changes it (the connected-hosts
   * and I/O sampler, hosts-publisher.ts): started once the agent has joined, stopped with it.
   */
  sidecar?: { start(): void; stop(): Promise<void> };
  /**
   * The cluster settings (kept current by a watch: app/cluster-config.ts): a path's IP is put on this
   * node's interface for the subnet it lies in, and the node record says which settings version the
   * agent works with. Absent: the interface each path record names.
   */
  cluster?: { current(): StoredClusterSettings | undefined; interfaces: { subnet1: string; subnet2: string } };
}

export interface FenceInfo {
  reason: string;
  /** ms from the last successful renewal's send to the end of the fence (monotonic): must stay < ttl. */
  sinceLastRenewMs: number;
  /** ms the fence itself took. */
  tookMs: number;
  portals: number;
}

const now = (): number => performance.now();

/**
 * SIGKILLs pid if it still is a tgtd (checked synchronously in /proc: no await, no pid reuse). Never a
 * pid below 2: kill(-1) would signal every process, kill(0) the agent's own group.
 */
function killIfTgtd(pid: number): boolean {
  if (!Number.isInteger(pid) || pid < 2) return false;
  try {
    if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]?.endsWith('tgtd')) return false;
    process.kill(pid, 'SIGKILL');
    return true;
  } catch {
    return false;
  }
}

/** The node an owner key names (undefined if its value is not an owner record). */
const ownerNode = (kv: KeyValue): string | undefined => ownerNodeOf(kv.value);

/** A path this node holds, as the plan names it, with its owner key as read (or as claimed). */
type Held = PlannedPath<KeyValue> & { kv: KeyValue };

/** How often the agent checks that the tgtds it serves through are still running. */
const TGTD_CHECK_MS = 500;

/** The lease a TTL change moves this node's keys off: renewed until nothing is left on it, then revoked. */
interface PreviousLease {
  lease: Lease;
  /** The TTL the agent held it with. */
  ttl: number;
  /** Monotonic ms at which its last successful renewal was sent. */
  lastRenewSentOk: number;
  inFlight: number;
  /** Monotonic ms at which the move began. */
  since: number;
}

export class Agent {
  private lease: Lease | undefined;
  /** While a TTL change moves the keys: the lease they come from (renewed too; the fence follows the earlier deadline). */
  private previous: PreviousLease | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private watches: Watch[] = [];
  private timers: NodeJS.Timeout[] = [];
  private watchdog: NodeJS.Timeout | undefined;
  private readonly reconciler: Coalescer;
  /** Monotonic ms at which the last successful renewal (or the grant) was sent. */
  private lastRenewSentOk = 0;
  private renewsInFlight = 0;
  private joining = false;
  private fenced = false;
  private stopped = false;
  /** Bumped by every fence: work begun before it must not go on serving. */
  private epoch = 0;
  /** Every path IP of every disk, as of the last reconcile (to drop them when fencing). */
  private knownPathIps = new Set<string>();
  /** Unrecorded tgtds of a previous run (see TgtDriver.killUnrecorded) are swept once, before serving. */
  private strayTgtdsSwept = false;
  /** ip -> prefix and interface of every path, as of the last reconcile. */
  private knownPaths = new Map<string, { prefix: number; eth: string }>();
  /** unit key (disk id) -> tgtd pid of the units seen at the last reconcile: the fence kills them before any await. */
  private knownTgtds = new Map<string, number>();
  /** IPs announced (gratuitous ARP) in this epoch. */
  private announced = new Set<string>();
  /**
   * Disks this process has served in this epoch, with what they were served as (the disk record and
   * the paths held here): event-driven reconciles skip them until that changes (an edit, a path taken
   * or given back).
   */
  private servedHere = new Map<string, string>();
  /** A fence killed this process's tgtds: keys adopted after it are re-served before they say served. */
  private fencedTargets = false;
  /** The next reconcile checks every held path against tgtd and the host (periodic resync). */
  private fullCheck = true;
  private metaCache = new Map<string, { rev: number; meta: DiskMeta }>();
  /** The IP this node's RBD clients come from ('' when it cannot be told); see NodeRecord.storageIp. */
  private storageIp: string | undefined;
  /** When the agent last joined (its node record's startedAt). */
  private startedAt = new Date().toISOString();
  /** Disks whose target failed its check, and how many times in a row (the retry backoff). */
  private readonly retries = new Map<string, number>();
  /** The lease the fence guard is fed for: set once this node's keys are all under it (after adoption). */
  private guardLease: Lease | undefined;
  /** The TTL of the lease held (or to be granted at the next join). */
  private heldTtl: number;

  constructor(private readonly o: AgentOptions) {
    this.heldTtl = o.leaseTtlSeconds ?? 10;
    this.reconciler = new Coalescer(
      () => this.timed(() => this.reconcileOnce()),
      (e) => this.o.log.error({ err: errText(e) }, 'reconcile failed'),
    );
  }

  get node(): string {
    return this.o.node;
  }

  /** The TTL of the lease this agent holds (a live change moves it to the cluster settings'). */
  get ttl(): number {
    return this.heldTtl;
  }

  /** Ids of the leases this agent holds now: the current one, and during a TTL change the one its keys come from. */
  get leases(): { current?: string; previous?: string } {
    return { ...(this.lease ? { current: this.lease.id } : {}), ...(this.previous ? { previous: this.previous.lease.id } : {}) };
  }

  get isFenced(): boolean {
    return this.fenced;
  }

  async start(): Promise<void> {
    await this.joinCluster();
    // Renewals start with the lease (the watchdog is armed from the grant on), before anything slow.
    this.scheduleRenewals();
    // A stalled event loop delays renewals and the watchdog alike: say so (see docs/HA.md).
    let tick = now();
    this.timers.push(
      setInterval(() => {
        const t = now();
        const late = t - tick - 100;
        tick = t;
        if (late > this.fenceAfterMs() / 4) this.o.log.warn({ lateMs: Math.round(late) }, 'event loop stalled');
      }, 100),
    );
    this.watches = await Promise.all(
      AGENT_PREFIXES.map((prefix) =>
        this.o.store.watch(
          prefix,
          () => void this.reconciler.trigger(),
          () => void this.reconciler.trigger(),
        ),
      ),
    );
    this.timers.push(
      setInterval(() => {
        this.fullCheck = true;
        void this.reconciler.trigger();
      }, this.o.resyncMs ?? 5000),
    );
    // A tgtd that dies (crash, OOM killer, SIGKILL) is noticed within TGTD_CHECK_MS, not at the resync.
    this.timers.push(setInterval(() => this.checkTgtds(), TGTD_CHECK_MS));
    // The first reconcile runs in the background: with many paths it takes a while, and the API
    // (same process on one box) must answer meanwhile.
    void this.reconciler.trigger();
    this.o.sidecar?.start();
  }

  /** Re-serves at once when a tgtd this node serves through has exited (a signal 0 per tgtd: cheap). */
  private checkTgtds(): void {
    if (this.stopped) return;
    let dead = 0;
    for (const [disk, pid] of this.knownTgtds) {
      try {
        process.kill(pid, 0);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ESRCH') continue;
        this.o.log.warn({ disk, pid }, 'tgtd exited; serving the disk again');
        this.knownTgtds.delete(disk);
        this.servedHere.delete(disk);
        dead++;
      }
    }
    if (dead === 0) return;
    this.fullCheck = true;
    void this.reconciler.trigger();
  }

  /** Renewals every ttl/6 (of the shorter lease while two are held): two or three attempts fit before the fence deadline (0.6 ttl). */
  private renewEveryMs(): number {
    const ttl = Math.min(this.heldTtl, this.previous?.ttl ?? this.heldTtl);
    return Math.max(100, Math.floor((ttl * 1000) / 6));
  }

  /** (Re)starts the renewal timer at the interval of the leases held now. */
  private scheduleRenewals(): void {
    if (this.renewTimer) clearInterval(this.renewTimer);
    this.renewTimer = undefined;
    if (this.stopped) return;
    this.renewTimer = setInterval(() => void this.renew(), this.renewEveryMs());
  }

  /** Fence well before the lease (ttl) can expire: 60% of ttl, leaving 40% to kill tgtds and drop IPs. */
  private fenceAfterMs(ttl = this.heldTtl): number {
    return ttl * 1000 * (this.o.fenceAfterRatio ?? 0.6);
  }

  /**
   * Monotonic ms by which this node must have fenced: the current lease's last successful renewal's
   * send plus its fence time, or the previous lease's if that comes first (keys may be on either).
   */
  private fenceDeadline(): number {
    const p = this.previous;
    return earliestDeadline([
      { lastRenewSentOk: this.lastRenewSentOk, fenceAfterMs: this.fenceAfterMs() },
      ...(p ? [{ lastRenewSentOk: p.lastRenewSentOk, fenceAfterMs: this.fenceAfterMs(p.ttl) }] : []),
    ]);
  }

  /** The guard's deadline: the same as the watchdog's (the earliest renewal's send + fence time). */
  private feedGuard(): void {
    if (!this.o.guard || !this.lease || this.guardLease !== this.lease || this.fenced || this.stopped) return;
    this.o.guard.feed(deadlineFromRenewal(this.fenceDeadline(), 0, now(), monoMs()));
  }

  private armWatchdog(): void {
    this.feedGuard();
    if (this.watchdog) clearTimeout(this.watchdog);
    const due = this.fenceDeadline() - now();
    this.watchdog = setTimeout(
      () => {
        this.watchdog = undefined;
        // After a stalled event loop, timers run before the I/O that piled up: let renewal answers that
        // already arrived count first (setImmediate runs after the poll phase), then decide.
        setImmediate(() => {
          if (this.fenced || this.stopped || this.watchdog) return;
          if (now() >= this.fenceDeadline()) void this.fence('lease not renewed in time');
          else this.armWatchdog();
        });
      },
      Math.max(0, due),
    );
  }

  private async joinCluster(): Promise<void> {
    // A (re)join takes the TTL of the cluster settings as they are now.
    const ttl = leaseTtlChange(this.heldTtl, this.o.cluster?.current()?.settings.leaseTtlSeconds) ?? this.heldTtl;
    const sentAt = now();
    const lease = await this.o.store.grantLease(ttl);
    if (ttl !== this.heldTtl) {
      this.heldTtl = ttl;
      this.scheduleRenewals();
    }
    this.lease = lease;
    this.lastRenewSentOk = sentAt;
    this.fenced = false;
    this.armWatchdog();
    // In Ceph mode, the IP its RBD clients come from: storage fencing leaves live nodes' clients alone.
    if (this.storageIp === undefined && this.o.images.kind === 'rbd') this.storageIp = (await this.o.images.clientIp().catch(() => undefined)) ?? '';
    this.startedAt = new Date().toISOString();
    await this.o.store.put(nodeKey(this.o.node), recordJson('node', this.nodeRecord()), { lease: lease.id });
    this.o.log.info({ node: this.o.node, lease: lease.id, ttl: this.ttl }, 'agent joined');
  }

  /** Runs a reconcile now (or right after the one in progress) and waits for it. */
  reconcile(): Promise<void> {
    return this.reconciler.trigger();
  }

  private async renew(): Promise<void> {
    if (this.stopped) return;
    if (!this.lease || this.fenced) {
      if (this.joining) return;
      this.joining = true;
      try {
        await this.joinCluster();
        void this.reconciler.trigger();
      } catch (e) {
        this.lease = undefined;
        this.o.log.debug({ err: errText(e) }, 'cannot join the cluster yet');
      } finally {
        this.joining = false;
      }
      return;
    }
    if (this.previous) void this.renewPrevious(this.previous);
    // A renewal that hangs must not delay the next: the watchdog fences on time whatever they do.
    if (this.renewsInFlight >= Math.ceil(this.fenceAfterMs() / this.renewEveryMs()) + 1) return;
    const lease = this.lease;
    const sentAt = now();
    this.renewsInFlight++;
    try {
      await lease.keepAliveOnce();
      if (lease === this.lease && !this.fenced && sentAt > this.lastRenewSentOk) {
        this.lastRenewSentOk = sentAt;
        this.armWatchdog();
      }
    } catch (e) {
      if (lease !== this.lease || this.fenced) return;
      const lost = e instanceof CoordError && e.code === 'lease_lost';
      this.o.log.warn({ err: errText(e), silentForMs: Math.round(now() - this.lastRenewSentOk) }, 'lease renewal failed');
      if (lost) await this.fence('lease lost');
    } finally {
      this.renewsInFlight--;
    }
  }

  /** The lease keys are being moved off (a TTL change): renewed like the current one until it is revoked. */
  private async renewPrevious(p: PreviousLease): Promise<void> {
    if (p.inFlight >= Math.ceil(this.fenceAfterMs(p.ttl) / this.renewEveryMs()) + 1) return;
    const sentAt = now();
    p.inFlight++;
    try {
      await p.lease.keepAliveOnce();
      if (this.previous === p && !this.fenced && sentAt > p.lastRenewSentOk) {
        p.lastRenewSentOk = sentAt;
        this.armWatchdog();
      }
    } catch (e) {
      if (this.previous !== p || this.fenced) return;
      const lost = e instanceof CoordError && e.code === 'lease_lost';
      this.o.log.warn({ err: errText(e), lease: p.lease.id, silentForMs: Math.round(now() - p.lastRenewSentOk) }, 'renewal of the previous lease failed');
      // Keys still on it are gone: another node may take those paths.
      if (lost) await this.fence('previous lease lost while moving keys to the new one');
    } finally {
      p.inFlight--;
    }
  }

  /**
   * Stops serving everything at once: this node may no longer own any path. tgtds are SIGKILLed by
   * PID (tgtd ignores SIGTERM, and tgtadm takes time), then every path IP is dropped.
   */
  async fence(reason: string): Promise<void> {
    if (this.fenced || this.stopped) return;
    const t0 = now();
    const sinceLastRenewMs = Math.round(t0 - this.lastRenewSentOk);
    this.fenced = true;
    this.epoch++;
    // First, synchronously (no await before it): SIGKILL the tgtds known from the last reconcile.
    let killed = 0;
    for (const pid of this.knownTgtds.values()) if (killIfTgtd(pid)) killed++;
    this.knownTgtds.clear();
    this.announced.clear();
    this.servedHere.clear();
    this.fencedTargets = true;
    if (this.watchdog) clearTimeout(this.watchdog);
    this.watchdog = undefined;
    this.lease = undefined;
    // Keys still on the lease of an unfinished TTL change go with it (it is not renewed any more).
    if (this.previous) {
      this.previous = undefined;
      this.scheduleRenewals();
    }
    // The guard keeps its last deadline (harmless now: nothing will be live) until a new lease holds the keys.
    this.guardLease = undefined;
    this.o.guard?.unfeed();
    // Then every path IP of every disk, in one `ip -batch`, and any tgtd started since the reconcile.
    const drop = [...this.knownPaths].map(([ip, p]) => ({ ip, ...p }));
    const dropping = this.o.net.dropIps
      ? this.o.net.dropIps(drop).catch((e) => this.o.log.error({ err: errText(e) }, 'fence: dropping IPs failed'))
      : Promise.resolve();
    const units = await this.o.target.units().catch((): TargetUnit[] => []);
    for (const u of units) if (u.alive && killIfTgtd(u.pid)) killed++;
    await dropping;
    if (!this.o.net.dropIps) await Promise.allSettled(units.flatMap((u) => u.portals).map((ip) => this.o.net.removeIp(ip, 32, '')));
    this.o.guard?.releaseAll();
    const tookMs = Math.round(now() - t0);
    const info: FenceInfo = { reason, sinceLastRenewMs: sinceLastRenewMs + tookMs, tookMs, portals: killed };
    this.o.log.error({ ...info }, 'fenced');
    this.o.onFence?.(info);
    // A reconcile that was running may have served something after the kill: sweep once it is done.
    void this.reconciler.trigger().then(() => this.sweep());
  }

  /** Path IPs (of any disk) this host has now. */
  private async pathIpsOnHost(): Promise<string[]> {
    if (!this.o.net.listIps) return [];
    try {
      return (await this.o.net.listIps()).filter((ip) => this.knownPathIps.has(ip));
    } catch {
      return [];
    }
  }

  /** While fenced: nothing served, nothing left of a portal (state files, sockets), no path IP. */
  private async sweep(): Promise<void> {
    if (!this.fenced) return;
    for (const u of await this.o.target.units()) {
      // Only a pid that still is a tgtd (a state file's pid may be stale, or not a pid at all).
      if (u.alive) killIfTgtd(u.pid);
      await this.o.target.unserve(u.key).catch(() => {});
      for (const ip of u.portals) await this.o.net.removeIp(ip, 32, '').catch(() => {});
    }
    for (const ip of await this.pathIpsOnHost()) await this.o.net.removeIp(ip, 32, '').catch(() => {});
    if (this.fenced) this.o.guard?.releaseAll();
  }

  /** Observe: every key the agent plans from, in one view. */
  private async observe(): Promise<ClusterView<KeyValue>> {
    const kvs = (await Promise.all(AGENT_PREFIXES.map((prefix) => this.o.store.list(prefix)))).flat();
    const view = clusterView(kvs);
    const cs = this.o.cluster?.current();
    if (cs && this.o.cluster) {
      const eth = this.o.cluster.interfaces;
      for (const d of view.disks.values())
        for (const [n, p] of d.paths) {
          const sub = subnetOfIp(cs.settings, p.ip);
          if (sub !== undefined) d.paths.set(n, { ...p, eth: sub === 1 ? eth.subnet1 : eth.subnet2 });
        }
    }
    return view;
  }

  /**
   * New cluster settings: the node record says the version (under the current lease), and a reconcile
   * runs with them. A new lease TTL is applied by that reconcile's first step (moveLease), live.
   */
  async clusterSettingsChanged(): Promise<void> {
    const lease = this.lease;
    if (this.stopped || !lease) return;
    await this.o.store.put(nodeKey(this.o.node), recordJson('node', this.nodeRecord()), { lease: lease.id });
    this.o.log.info({ version: this.o.cluster?.current()?.version }, 'cluster settings picked up');
    void this.reconciler.trigger();
  }

  private nodeRecord(): NodeRecord {
    const version = this.o.cluster?.current()?.version;
    return {
      name: this.o.node,
      startedAt: this.startedAt,
      ...(this.storageIp ? { storageIp: this.storageIp } : {}),
      ...(version !== undefined ? { settingsVersion: version } : {}),
    };
  }

  /** Runs one reconcile and tells onReconcile how long it took (one that had nothing to run on is not told). */
  private async timed(fn: () => Promise<void>): Promise<void> {
    const report = this.o.onReconcile;
    if (!report || this.stopped || this.fenced || !this.lease) return fn();
    const t0 = now();
    let ok = false;
    try {
      await fn();
      ok = true;
    } finally {
      report((now() - t0) / 1000, ok);
    }
  }

  /**
   * A live lease TTL change (the first step of a reconcile): when the cluster settings name another TTL
   * than the lease's, a new lease is granted and becomes the current one; the old one is renewed too,
   * and the fence deadline is the earlier of the two. This node's keys (node record, owner keys) move
   * to the new lease in transactions of at most 64 keys, each key only if unchanged since it was read
   * (domain/lease-move.ts); once none is left on the old lease, it is revoked. A step that fails leaves
   * every key on one of the two leases, both renewed: the next reconcile goes on from there (and this
   * reconcile's adoption moves what it finds on the old lease, key by key, guarded the same way).
   */
  private async moveLease(): Promise<void> {
    if (this.stopped || this.fenced || !this.lease) return;
    const wanted = this.previous ? undefined : leaseTtlChange(this.heldTtl, this.o.cluster?.current()?.settings.leaseTtlSeconds);
    if (wanted !== undefined) {
      const old = this.lease;
      const sentAt = now();
      const next = await this.o.store.grantLease(wanted);
      if (this.lease !== old || this.fenced || this.stopped) {
        await next.revoke().catch(() => {});
        return;
      }
      this.previous = { lease: old, ttl: this.heldTtl, lastRenewSentOk: this.lastRenewSentOk, inFlight: 0, since: now() };
      this.lease = next;
      this.lastRenewSentOk = sentAt;
      this.heldTtl = wanted;
      // The guard followed the old lease: it follows both now (fed the earlier deadline), then the new one.
      if (this.guardLease === old) this.guardLease = next;
      this.scheduleRenewals();
      this.armWatchdog();
      this.o.log.info({ from: old.id, to: next.id, ttl: wanted, was: this.previous.ttl }, 'lease TTL change: moving keys to a new lease');
    }
    const p = this.previous;
    if (!p) return;
    const lease = this.lease;
    const going = () => this.previous === p && this.lease === lease && !this.fenced && !this.stopped && now() < this.fenceDeadline();
    const mine = async () => (await Promise.all([NODES, OWNERS].map((prefix) => this.o.store.list(prefix)))).flat();
    const plan = planLeaseMove({
      kvs: await mine(),
      from: p.lease.id,
      to: lease.id,
      rewrite: new Map([[nodeKey(this.o.node), recordJson('node', this.nodeRecord())]]),
    });
    let moved = 0;
    for (const b of plan.batches) {
      if (!going()) return;
      if (await this.o.store.txn(b.compares, b.puts)) {
        moved += b.puts.length;
        continue;
      }
      // A key changed since it was read: the others go one by one; that one is read again next time.
      for (const one of splitBatch(b)) if (going() && (await this.o.store.txn(one.compares, one.puts))) moved++;
    }
    if (!going()) return;
    const left = remainingOnLease(await mine(), p.lease.id);
    if (left.length > 0) {
      this.o.log.warn({ lease: p.lease.id, left: left.length, moved }, 'lease TTL change: keys still on the old lease, moved at the next reconcile');
      return;
    }
    // Nothing of this node's is on the old lease. Proof that none went with it (it expired or was revoked
    // behind the agent's back, taking keys this node still serves): it is still alive after that read.
    try {
      await p.lease.keepAliveOnce();
    } catch (e) {
      if (this.previous !== p || this.fenced) return;
      if (e instanceof CoordError && e.code === 'lease_lost') await this.fence('previous lease lost while moving keys to the new one');
      else this.o.log.warn({ err: errText(e), lease: p.lease.id }, 'lease TTL change: the old lease could not be checked; again at the next reconcile');
      return;
    }
    if (!going()) return;
    // It goes. (A failed revoke leaves it to expire, holding nothing.)
    this.previous = undefined;
    this.scheduleRenewals();
    this.armWatchdog();
    await p.lease.revoke().catch((e) => this.o.log.warn({ err: errText(e), lease: p.lease.id }, 'old lease not revoked: it expires by itself'));
    // A node record written under the old lease by a call already on its way when the move began went with it.
    if (!(await this.o.store.get(nodeKey(this.o.node))) && this.lease === lease && !this.fenced && !this.stopped)
      await this.o.store.put(nodeKey(this.o.node), recordJson('node', this.nodeRecord()), { lease: lease.id });
    this.o.log.info(
      {
        from: p.lease.id,
        to: lease.id,
        ttl: this.heldTtl,
        was: p.ttl,
        keys: plan.keys.length,
        moved,
        batches: plan.batches.length,
        ms: Math.round(now() - p.since),
      },
      'lease TTL changed: keys moved to the new lease, old lease revoked',
    );
  }

  /** One reconcile: observe the store, plan (pure: domain/agent-plan.ts), act on the plan. */
  private async reconcileOnce(): Promise<void> {
    if (this.stopped || this.fenced || !this.lease) return;
    try {
      await this.moveLease();
    } catch (e) {
      // Safe as it stands (each key on one of the leases, both renewed); the next reconcile goes on.
      this.o.log.warn({ err: errText(e) }, 'lease TTL change interrupted; going on at the next reconcile');
    }
    if (this.stopped || this.fenced || !this.lease) return;
    const lease = this.lease;
    const epoch = this.epoch;
    const full = this.fullCheck;
    this.fullCheck = false;
    // Also false once the fence deadline has passed, before the watchdog has run: after a stall (a frozen
    // node thawed) a pending step must not add an IP or start a tgtd the overdue fence would only undo.
    const current = () => !this.stopped && !this.fenced && this.epoch === epoch && this.lease === lease && now() < this.fenceDeadline();
    const me = this.o.node;
    const v = await this.observe();
    const { disks } = v;
    this.knownPathIps = new Set([...disks.values()].flatMap((d) => [...d.paths.values()].map((p) => p.ip)));
    this.knownPaths = new Map(
      [...disks.values()].flatMap((d) => [...d.paths.values()].map((p) => [p.ip, { prefix: prefixOfMask(p.subnetMask) ?? 32, eth: p.eth }] as const)),
    );
    if (!this.strayTgtdsSwept) {
      // A previous run that died between starting a tgtd and recording it left that tgtd running.
      try {
        const strays = await this.o.target.killUnrecorded(this.knownPathIps);
        this.strayTgtdsSwept = true;
        if (strays.length) this.o.log.warn({ strays }, 'killed tgtds a previous run started but never recorded');
      } catch (e) {
        this.o.log.error({ err: errText(e) }, 'looking for unrecorded tgtds failed');
      }
    }
    const plan = planAgent({ view: v, me, leaseId: lease.id });
    await this.act(plan, v, lease, full, current);
    // Idle target processes for what this node would take over if the busiest other node failed.
    if (current()) {
      const n = warmPoolSize(v, me, this.o.warmTargets ?? 32);
      void this.o.target.warm(n, this.o.images.kind === 'rbd' ? 'rbd' : 'rdwr').catch((e) => this.o.log.warn({ err: errText(e) }, 'warm pool'));
    }
  }

  /** Act: carry the plan out, in the order that never lets a path have two servers. */
  private async act(plan: AgentPlan<KeyValue>, v: ClusterView<KeyValue>, lease: Lease, full: boolean, current: () => boolean): Promise<void> {
    const me = this.o.node;
    const { disks } = v;
    for (const kv of plan.cleanup) await this.deleteIfUnchanged(kv);

    // Adopt keys left by a previous run of this node (same name, older lease).
    let keep = plan.keep as Held[];
    const notAdopted = new Set<PlannedPath<KeyValue>>();
    for (const o of plan.adopt as Held[]) {
      if (!current()) return;
      // After a fence in this process its tgtds are gone: the path is not served until served again.
      const value = this.fencedTargets
        ? recordJson('owner', { ...(JSON.parse(o.kv.value) as OwnerRecord), node: me, state: 'configuring' } satisfies OwnerRecord)
        : o.kv.value;
      const ok = await this.o.store.txn([{ key: o.kv.key, modRevision: o.kv.modRevision }], [{ type: 'put', key: o.kv.key, value, lease: lease.id }]);
      const now = ok ? await this.o.store.get(o.kv.key) : undefined;
      if (now && now.lease === lease.id) {
        o.kv = now;
        this.o.log.info({ disk: o.id, path: o.index }, 'adopted path from previous run');
      } else {
        // The key changed or went since it was read (the old lease expired, and another node may have
        // taken the path meanwhile): this node does not own the path and must not serve it. Any portal
        // it still has for it is removed below; the next reconcile sees the path as it is now.
        notAdopted.add(o);
        this.o.log.warn({ disk: o.id, path: o.index }, 'path of a previous run could not be adopted: not served');
      }
    }
    if (notAdopted.size > 0) keep = keep.filter((o) => !notAdopted.has(o));
    if (plan.adopt.length > 0 && current()) this.fencedTargets = false;
    // Every key this node holds is under this lease now: the guard's deadline may follow it (until
    // now it kept the deadline of the lease the keys were under: a previous run's, or none).
    if (this.o.guard && current() && this.guardLease !== lease) {
      this.guardLease = lease;
      this.feedGuard();
      this.o.log.info({ lease: lease.id, guard: this.o.guard.guardState?.pid }, 'fence guard follows this lease');
    }

    // Give back what this node should not hold: the portal goes first, then the IP, then the key.
    const released = new Map<string, typeof plan.release>();
    for (const r of plan.release) released.set(r.id, [...(released.get(r.id) ?? []), r]);
    for (const [id, list] of released) {
      if (!current()) return;
      const rest = keep.filter((o) => o.id === id);
      try {
        if (rest.length === 0) {
          await this.o.target.unserve(id);
          await this.forgetClients(id);
        } else await this.serveDisk(disks.get(id) as DiskState, v.diskRevs.get(id) ?? 0, rest, lease, current, true);
      } catch (e) {
        this.o.log.error({ disk: id, err: errText(e) }, 'cannot stop serving released paths; keeping them');
        continue;
      }
      this.servedHere.delete(id);
      for (const r of list as (Held & { reason: string })[]) {
        await this.o.net.removeIp(r.ip, 32, '');
        this.o.guard?.release([r.ip]);
        this.announced.delete(r.ip);
        await this.o.store.txn([{ key: r.kv.key, modRevision: r.kv.modRevision }], [{ type: 'delete', key: r.kv.key }]);
        this.o.log.info({ disk: r.id, path: r.index, ip: r.ip, reason: r.reason, to: r.intent?.intent.to }, 'path released');
      }
    }

    // A drained node moves what it holds away (a shared disk whole), one intent per path.
    for (const m of plan.intents) {
      const intent: MoveIntent = { to: m.to, from: m.from, requestedAt: new Date().toISOString() };
      const key = moveKey(m.id, m.index);
      if (await this.o.store.txn([{ key, modRevision: 0 }], [{ type: 'put', key, value: recordJson('move', intent) }]))
        this.o.log.info({ disk: m.id, path: m.index, to: m.to }, 'drained: moving path away');
    }

    // Claim: each claim in one transaction (a shared disk's paths all or none), claims in parallel.
    // In Ceph mode a claim may take over what another node served (after a failover, that node's tgtd
    // may still hold writes): a shared disk of which this node serves nothing yet, or any path of a
    // spread disk. Its keys say so (`fence`), and it is served only after the storage has fenced every
    // client of the image that is not a live node's.
    const fencing = this.o.storageFencing !== false && this.o.images.kind === 'rbd';
    const heldBefore = new Set(keep.map((o) => o.id));
    await mapSettled(plan.claims, this.o.concurrency ?? SERVE_CONCURRENCY, async (c) => {
      if (!current()) return;
      const takeover = fencing && (!heldBefore.has(c.id) || placementOf((disks.get(c.id) as DiskState).record) === 'spread');
      const value = recordJson('owner', { node: me, state: 'configuring', ...(takeover ? { fence: true as const } : {}) } satisfies OwnerRecord);
      const keys = c.paths.map((p) => ownerKey(p.id, p.index));
      const ok = await this.o.store.txn(
        keys.map((key) => ({ key, modRevision: 0 })),
        keys.map((key) => ({ type: 'put' as const, key, value, lease: lease.id })),
      );
      if (!ok) return;
      const kvs = await Promise.all(keys.map((k) => this.o.store.get(k)));
      c.paths.forEach((p, i) => {
        const kv = kvs[i];
        if (kv) keep.push({ ...p, kv });
      });
      this.o.log.info({ disk: c.id, paths: c.paths.map((p) => p.index) }, 'claimed');
      // An intent for a target that cannot take it is void now that the path has an owner again.
      for (const kv of c.voidIntents) await this.deleteIfUnchanged(kv);
    });
    if (!current()) return;

    // Serve every disk this node holds (idempotent), then mark its paths served; moves to here are done.
    const byDisk = new Map<string, Held[]>();
    for (const o of keep) byDisk.set(o.id, [...(byDisk.get(o.id) ?? []), o]);
    // The periodic resync re-serves every disk: one listing of the host's addresses for all of them
    // (a disk served here already re-adds only the IPs the host lost), not an `ip` process or two per
    // path: those were most of the agent's time with a few hundred paths, and stalled its event loop.
    const hostIps =
      full && this.o.net.listIps
        ? await this.o.net.listIps().then(
            (l) => new Set(l),
            () => undefined,
          )
        : undefined;
    await mapSettled([...byDisk], this.o.concurrency ?? SERVE_CONCURRENCY, async ([id, held]) => {
      if (this.stopped) return; // a stop does not wait for paths nobody will serve
      const d = disks.get(id) as DiskState;
      try {
        // Served by this process already, as the disk is now: only the periodic resync looks at tgtd
        // and the host again. An edited disk (ACL, CHAP, size) or a changed set of paths is applied at once.
        const as = JSON.stringify([d.record, held.map((o) => [o.index, d.paths.get(o.index)]).sort()]);
        const allServed = held.every((o) => (JSON.parse(o.kv.value) as OwnerRecord).state === 'served' && !o.intent);
        if (!full && allServed && this.servedHere.get(id) === as) return;
        const firstHere = !this.servedHere.has(id);
        await this.serveDisk(d, v.diskRevs.get(id) ?? 0, held, lease, current, false, v.nodes, hostIps);
        if (current()) this.servedHere.set(id, as);
        if (current() && firstHere) void this.recordClients(id);
        for (const o of held) if (o.intent && o.intent.intent.to === me && current()) await this.deleteIfUnchanged(o.intent.kv);
      } catch (e) {
        if (!current()) return;
        this.o.log.error({ disk: id, paths: held.map((o) => o.index), err: errText(e) }, 'cannot serve disk');
        if (!this.retries.has(id)) this.retryLater(id);
      }
    });
    if (!current()) return;

    // Target processes, and path IPs this host still has, that this node no longer holds.
    const keepIps = new Set(keep.map((o) => o.ip));
    const units = await this.o.target.units();
    this.knownTgtds = new Map(units.filter((u) => u.alive && byDisk.has(u.key)).map((u) => [u.key, u.pid]));
    this.o.guard?.setTgtds(units.filter((u) => u.alive).map((u) => ({ ip: u.ip, pid: u.pid, controlPort: u.controlPort })));
    for (const u of units) {
      if (byDisk.has(u.key) || !current()) continue;
      this.o.log.info({ unit: u.key, portals: u.portals }, 'removing stale target');
      this.servedHere.delete(u.key);
      await this.o.target.unserve(u.key);
      if (u.disk) await this.forgetClients(u.disk);
      for (const ip of u.portals) {
        if (keepIps.has(ip)) continue;
        await this.o.net.removeIp(ip, 32, '');
        this.o.guard?.release([ip]);
      }
    }
    for (const ip of full ? await this.pathIpsOnHost() : []) {
      if (keepIps.has(ip) || !current()) continue;
      this.o.log.info({ ip }, 'removing stale path IP');
      await this.o.net.removeIp(ip, 32, '');
      this.o.guard?.release([ip]);
    }

    // The SERVED markers (status `degraded` vs `starting`), kept by the first eligible node.
    for (const m of plan.markers) {
      const key = servedKey(m.id);
      if (m.change === 'set')
        await this.o.store.txn([{ key, modRevision: 0 }], [{ type: 'put', key, value: recordJson('served', { since: new Date().toISOString() }) }]);
      else await this.o.store.delete(key);
    }
    for (const kv of plan.staleMarkers) await this.deleteIfUnchanged(kv);
  }

  /**
   * Storage fencing of a disk taken over: every other RBD client of its image (the tgtd of the node
   * that served it, frozen or cut off but maybe still holding writes) is blocklisted before this node
   * serves it, so nothing it still sends can land after writes through this node. If that cannot be
   * done (Ceph unreachable), the disk is not served here: safety over availability, the reason in its
   * owner keys (the disk list shows it), retried with backoff.
   */
  private async fenceStorage(d: DiskState, held: Held[], lease: Lease, live: ReadonlyMap<string, NodeRecord>): Promise<void> {
    const id = d.record.id;
    const t0 = now();
    try {
      // Live nodes' clients stay (a spread disk's other paths; a shared disk's other owner while it
      // converges); a node whose lease expired (dead, frozen, cut off) is not live.
      const keepIps = new Set([...live.values()].map((n) => n.storageIp).filter((ip): ip is string => typeof ip === 'string' && ip !== ''));
      const unknown = [...live.values()].filter((n) => !n.storageIp).map((n) => n.name);
      if (unknown.length > 0 && placementOf(d.record) === 'spread') {
        // Nodes of a version that does not say where their clients come from: blocklisting could cut
        // their own paths of this disk. Not fenced (logged); they say it once upgraded.
        this.o.log.warn({ disk: id, nodes: unknown }, 'storage fencing skipped: live nodes without a storage IP may serve this spread disk');
        return;
      }
      // A target of this disk left on this node (a previous run's) would be one of the clients: it goes
      // first. Not for a spread disk this node serves other paths of (its own live client is kept).
      if (!held.some((o) => (JSON.parse(o.kv.value) as OwnerRecord).state === 'served')) await this.o.target.unserve(id);
      // Clients that nodes no longer live recorded for this image: blocklisted even when their watch has
      // expired (a node frozen longer than the OSDs' watch timeout still holds writes in its tgtd).
      const recorded = (await this.o.store.list(clientsPrefix(id))).flatMap((kv) => {
        const r = parseClients(kv.key, kv.value);
        return r && r.node !== this.o.node && !live.has(r.node) ? [{ kv, addrs: r.addrs }] : [];
      });
      const clients = await this.o.images.fenceClients(
        imageName(id),
        keepIps,
        recorded.flatMap((r) => r.addrs),
      );
      for (const r of recorded) await this.deleteIfUnchanged(r.kv);
      this.o.log.warn(
        { disk: id, clients, ms: Math.round(now() - t0) },
        clients.length ? 'storage fenced: blocklisted the other clients of the image' : 'storage fencing: no other client of the image',
      );
    } catch (e) {
      const problem = `storage fencing failed, not served until it succeeds: ${errText(e)}`.slice(0, 300);
      this.o.log.error({ disk: id, err: errText(e) }, 'storage fencing failed: not serving the disk');
      for (const o of held) {
        const rec = JSON.parse(o.kv.value) as OwnerRecord;
        if (rec.problem === problem) continue;
        await this.o.store
          .txn(
            [{ key: o.kv.key, modRevision: o.kv.modRevision }],
            [{ type: 'put', key: o.kv.key, value: recordJson('owner', { ...rec, problem } satisfies OwnerRecord), lease: lease.id }],
          )
          .catch(() => false);
      }
      this.retryLater(id);
      throw new Error(problem);
    }
  }

  /** What this node last recorded as its clients of each disk's image (to write only changes). */
  private readonly recordedClients = new Map<string, string>();

  /**
   * Ceph mode: records this node's RBD clients of a disk's image (its tgtd's, from this node's storage
   * IP) outside any lease, for storage fencing after this node is gone (see domain/storage-clients.ts).
   * Off the critical path: the disk is served already.
   */
  private async recordClients(id: string): Promise<void> {
    if (this.o.images.kind !== 'rbd' || !this.storageIp || this.o.storageFencing === false) return;
    try {
      const mine = (await this.o.images.clients(imageName(id))).filter((a) => ipOfClient(a) === this.storageIp).sort();
      const text = mine.join(' ');
      if (mine.length === 0 || this.recordedClients.get(id) === text) return;
      await this.o.store.put(clientsKey(id, this.o.node), recordJson('clients', { addrs: mine, at: new Date().toISOString() } satisfies ClientsRecord));
      this.recordedClients.set(id, text);
    } catch (e) {
      this.o.log.warn({ disk: id, err: errText(e) }, 'cannot record the RBD clients of the disk');
    }
  }

  /** This node serves nothing of the disk any more: its clients record goes. */
  private async forgetClients(id: string): Promise<void> {
    if (this.o.images.kind !== 'rbd') return;
    this.recordedClients.delete(id);
    await this.o.store.delete(clientsKey(id, this.o.node)).catch(() => {});
  }

  /** Paths said served that are not answering any more: `configuring` again until they answer. */
  private async markConfiguring(held: Held[], lease: Lease): Promise<void> {
    const value = recordJson('owner', { node: this.o.node, state: 'configuring' } satisfies OwnerRecord);
    for (const o of held) {
      if ((JSON.parse(o.kv.value) as OwnerRecord).state !== 'served') continue;
      await this.o.store.txn([{ key: o.kv.key, modRevision: o.kv.modRevision }], [{ type: 'put', key: o.kv.key, value, lease: lease.id }]).catch(() => false);
    }
  }

  /** A disk whose target failed is tried again by a full reconcile, after a backoff per disk (0.2 s doubling to 10 s). */
  private retryLater(id: string): void {
    const n = (this.retries.get(id) ?? 0) + 1;
    this.retries.set(id, n);
    setTimeout(
      () => {
        if (this.stopped) return;
        this.fullCheck = true;
        void this.reconciler.trigger();
      },
      Math.min(10_000, 200 * 2 ** (n - 1)),
    ).unref();
  }

  /** Deletes kv's key if it is unchanged since kv was read. True if it was deleted. */
  private async deleteIfUnchanged(kv: KeyValue): Promise<boolean> {
    try {
      return await this.o.store.txn([{ key: kv.key, modRevision: kv.modRevision }], [{ type: 'delete', key: kv.key }]);
    } catch (e) {
      this.o.log.warn({ key: kv.key, err: errText(e) }, 'cannot delete key');
      return false;
    }
  }

  private async diskMeta(d: DiskState, rev: number): Promise<DiskMeta> {
    const cached = this.metaCache.get(d.record.id);
    if (cached && cached.rev === rev) return cached.meta;
    const raw = await this.o.images.getMeta(imageName(d.record.id));
    const meta = parseDiskMeta(raw);
    if (!meta) throw new Error(`image ${imageName(d.record.id)} has no readable Portway metadata`);
    this.metaCache.set(d.record.id, { rev, meta });
    return meta;
  }

  /** Drops path IPs added after a fence (see serveDisk); reconciles run one at a time, so no newer epoch holds them yet. */
  private async dropLate(ips: { ip: string; prefix: number; eth: string }[]): Promise<void> {
    this.o.log.warn({ ips: ips.map((p) => p.ip) }, 'path IPs added after a fence: dropping them');
    if (this.o.net.dropIps) await this.o.net.dropIps(ips).catch((e) => this.o.log.error({ err: errText(e) }, 'cannot drop late IPs'));
    else for (const p of ips) await this.o.net.removeIp(p.ip, p.prefix, p.eth).catch(() => {});
  }

  /**
   * Serves a disk on the paths this node holds: the guard told of every IP, the IPs added, one target
   * process with every IP as a portal, then each path marked served. `portalsOnly`: only narrow the
   * portals to `held` (paths being given back), marking nothing.
   */
  private async serveDisk(
    d: DiskState,
    rev: number,
    held: Held[],
    lease: Lease,
    current: () => boolean,
    portalsOnly: boolean,
    live: ReadonlyMap<string, NodeRecord> = new Map(),
    hostIps?: ReadonlySet<string>,
  ): Promise<void> {
    const id = d.record.id;
    // The record's revision as observed (no read per disk): an edit changes it, and the metadata is read again.
    const meta = await this.diskMeta(d, rev);
    const spec: TargetSpec = {
      iqn: meta.iqn,
      backing: this.o.images.backing(imageName(id)),
      acl: meta.acl,
      chapUser: meta.chapUser,
      chapPassword: meta.chapPassword,
      ...(meta.chapUser && meta.targetChapUser ? { targetChapUser: meta.targetChapUser, targetChapPassword: meta.targetChapPassword ?? '' } : {}),
      serial: id,
      sizeGb: meta.sizeGb,
      // Its own target id, so its NAA designator differs from every other disk's; disks made before
      // placement existed keep tid 1, the identity their hosts know (see TargetSpec.tid).
      ...(meta.placement !== undefined ? { tid: Number(id) } : {}),
    };
    if (!current()) return;
    const ips = held.map((o) => ({ ip: o.ip, prefix: o.prefix, eth: o.eth }));
    if (!portalsOnly && held.some((o) => (JSON.parse(o.kv.value) as OwnerRecord).fence)) await this.fenceStorage(d, held, lease, live);
    if (!current()) return;
    if (!portalsOnly) {
      // The guard knows the IPs before they can be live (it drops them if this process dies or hangs).
      await this.o.guard?.hold(ips);
      if (!current()) return;
      // The disk's IPs at once (a shared disk's paths all come up together). A disk this process
      // serves already (a resync) skips the IPs the host has: the check below still connects to each.
      const add = hostIps && this.servedHere.has(id) ? ips.filter((p) => !hostIps.has(p.ip)) : ips;
      // One `ip -batch` for every disk served in this turn (the network adapter gathers them).
      await Promise.all(add.map((p) => this.o.net.addIp(p.ip, p.prefix, p.eth)));
      if (!current()) {
        // Fenced while the addresses were being added: an add that landed after the fence dropped the
        // node's IPs would stay live (and with a stalled event loop, past the lease's expiry, while
        // another node takes the path). Dropped at once, not at the sweep after this reconcile.
        await this.dropLate(add);
        return;
      }
    }
    await this.o.target.serve(
      id,
      spec,
      ips.map((p) => p.ip),
    );
    if (!current() || portalsOnly) return;
    // The portals listen now: the gratuitous ARP goes out beside the end-to-end check, and the paths say
    // served only once it has (the network says when its arping sends, within 250 ms). Announced
    // earlier, with the IPs, a host would connect before anything listens; not waited for, a host acting
    // on `served` could send its SYN to the dead node's MAC and wait for the kernel's retry (1 s).
    const arpSent = this.announce(ips);
    // Served means answering: the process, its port, the target with this disk's identity, every portal.
    const problem = await this.o.target.check(
      id,
      spec,
      ips.map((p) => p.ip),
    );
    if (!current()) return;
    if (problem !== undefined) {
      this.o.log.warn({ disk: id, problem }, 'target not answering: restarting it');
      for (const p of ips) this.announced.delete(p.ip); // announced again once it answers
      await this.markConfiguring(held, lease);
      this.servedHere.delete(id);
      await this.o.target.unserve(id).catch((e) => this.o.log.error({ disk: id, err: errText(e) }, 'cannot stop the target'));
      this.retryLater(id);
      throw new Error(`disk ${id} does not answer: ${problem}`);
    }
    this.retries.delete(id);
    await arpSent;
    if (!current()) return;
    // Served: the disk's paths in one transaction (each only if its key is as read), else one by one.
    const toMark = held.filter((o) => (JSON.parse(o.kv.value) as OwnerRecord).state !== 'served');
    if (toMark.length === 0) return;
    const value = recordJson('owner', { node: this.o.node, state: 'served' } satisfies OwnerRecord);
    const mark = (list: Held[]) =>
      this.o.store.txn(
        list.map((o) => ({ key: o.kv.key, modRevision: o.kv.modRevision })),
        list.map((o) => ({ type: 'put' as const, key: o.kv.key, value, lease: lease.id })),
      );
    if (await mark(toMark)) this.o.log.info({ disk: id, paths: toMark.map((o) => o.index), ips: toMark.map((o) => o.ip) }, 'paths served');
    else if (toMark.length > 1) for (const o of toMark) if (await mark([o])) this.o.log.info({ disk: id, paths: [o.index], ips: [o.ip] }, 'paths served');
  }

  /** A gratuitous ARP for each IP not announced yet in this epoch; resolves once they are sent (never rejects). */
  private announce(ips: readonly { ip: string; eth: string }[]): Promise<unknown> {
    const sent: Promise<void>[] = [];
    for (const p of ips) {
      if (!this.o.net.announce || this.announced.has(p.ip)) continue;
      this.announced.add(p.ip);
      sent.push(this.o.net.announce(p.ip, p.eth).catch(() => {}));
    }
    return Promise.all(sent);
  }

  /**
   * Stops the agent. release=true gives every path back (targets removed, IPs dropped, keys deleted
   * with the lease); release=false leaves targets running and keys under the lease, for a restart that
   * adopts them.
   */
  /** Takes no more work (no new paths, no tgtd starts); stop() then finishes the job. */
  beginStop(): void {
    this.stopped = true;
    this.o.target.close();
  }

  /**
   * Deletes the owner keys naming this node that are still under a previous run's lease (a stop that
   * comes before the first reconcile adopted them): nothing serves them here any more, and left alone
   * they would say `served` until that lease expires. Each delete is conditional on the key being
   * unchanged, so a path another node took meanwhile is not touched.
   */
  private async releaseUnadopted(): Promise<void> {
    let owners: KeyValue[];
    try {
      owners = await this.o.store.list(OWNERS);
    } catch (e) {
      this.o.log.warn({ err: errText(e) }, "releasing a previous run's paths failed; they go when its lease expires");
      return;
    }
    for (const kv of owners)
      if (ownerNode(kv) === this.o.node && (await this.deleteIfUnchanged(kv))) this.o.log.info({ key: kv.key }, 'released a path of a previous run');
  }

  async stop({ release }: { release: boolean }): Promise<void> {
    this.stopped = true;
    this.o.target.close();
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    if (this.renewTimer) clearInterval(this.renewTimer);
    this.renewTimer = undefined;
    if (this.watchdog) clearTimeout(this.watchdog);
    this.watchdog = undefined;
    await Promise.all(this.watches.map((w) => w.close().catch(() => {})));
    this.watches = [];
    await this.o.sidecar?.stop();
    await this.reconciler.trigger(); // waits for a run in progress (it returns at once: stopped)
    if (!release) return;
    // In parallel: each tgtd takes about a second to exit.
    await mapSettled(await this.o.target.units(), 16, async (u) => {
      await this.o.target.unserve(u.key);
      for (const ip of u.portals) await this.o.net.removeIp(ip, 32, '');
    });
    for (const ip of await this.pathIpsOnHost()) await this.o.net.removeIp(ip, 32, '').catch(() => {});
    await this.o.target.warm(0).catch(() => {});
    if (this.lease) await this.lease.revoke().catch((e) => this.o.log.warn({ err: errText(e) }, 'lease revoke failed'));
    if (this.previous) await this.previous.lease.revoke().catch((e) => this.o.log.warn({ err: errText(e) }, 'previous lease revoke failed'));
    await this.releaseUnadopted();
    this.o.log.info({ node: this.o.node }, 'agent stopped, paths released');
  }
}
