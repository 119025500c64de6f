/**
 * CoordStore on etcd v3 (the `etcd3` npm client), for a cluster.
 *
 * - Keys are used as given; with the `namespace` option every key is stored as namespace + key and
 *   handed back without it.
 * - Every unary call has a deadline (`callTimeoutMs`, 5 s by default): a lost leader or a dead member
 *   costs seconds, never a hang. Reads (get/list) retry within that deadline on transient errors;
 *   writes are tried once (the client's retry policy is off: a retried write could apply twice).
 * - Leases are never kept alive in the background (no autoKeepAlive): the owner calls keepAliveOnce()
 *   itself, which rejects with CoordError('lease_lost') once etcd says the lease is gone.
 * - Watches resume after a reconnect from the last revision they saw (the client re-creates them);
 *   onReset is still called after every reconnect (and after a watch had to be re-created from the
 *   current revision, e.g. after compaction) so the caller re-reads its state.
 * - Errors are CoordError: 'unavailable' (no member reachable, no leader, ...), 'timeout' (deadline
 *   passed: the outcome of a write is then unknown), 'lease_lost', 'closed' (after close()).
 */
import { ConsecutiveBreaker, circuitBreaker, handleWhen, noop } from 'cockatiel';
import {
  ClientClosedError,
  Etcd3,
  EtcdLeaseInvalidError,
  GRPCDeadlineExceededError,
  type ICompare,
  type IKeyValue,
  type IOptions,
  type IRequestOp,
  type IWatchResponse,
  type Watcher,
  isRecoverableError,
} from 'etcd3';
import type { EtcdMemberStatus } from '../../domain/infra-health.js';
import { type Compare, CoordError, type CoordStore, type KeyValue, type Lease, type LeaseInfo, type TxnOp, type Watch, type WatchEvent } from './types.js';

export interface EtcdStoreOptions {
  /** Client URLs, e.g. ["http://127.0.0.1:2379"]. */
  hosts: string[];
  /** TLS (https:// endpoints): the CA to trust, and the client certificate and key when etcd asks for one. */
  credentials?: { rootCertificate: Buffer; privateKey?: Buffer; certChain?: Buffer };
  /** etcd user/password authentication. */
  auth?: { username: string; password: string };
  /** Prepended to every key (and stripped from keys handed back). Default: none. */
  namespace?: string;
  /** Deadline of one operation, in ms. Default 5000. */
  callTimeoutMs?: number;
  /** Time to wait for a connection to a member, in ms. Default 3000. */
  dialTimeoutMs?: number;
  /** Longest pause between two attempts to re-establish the watch stream, in ms. Default 2000. */
  watchMaxBackoffMs?: number;
}

const enc = (s: string): Buffer => Buffer.from(s, 'utf8');

/** The smallest key greater than every key starting with prefix ("\0" = to the end). */
function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/** Key range of a prefix for etcd requests; the empty prefix is every key. */
function prefixRange(prefix: Buffer): { key: Buffer; range_end: Buffer } {
  if (prefix.length === 0) return { key: Buffer.from([0]), range_end: Buffer.from([0]) };
  return { key: prefix, range_end: prefixEnd(prefix) };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Exponential backoff for the client's watch reconnects (cockatiel's IBackoff shape). */
type WatchBackoff = NonNullable<NonNullable<IOptions['faultHandling']>['watchBackoff']>;
function watchBackoff(initialMs: number, maxMs: number): WatchBackoff {
  const make = (ms: number): WatchBackoff => ({
    duration: ms,
    next: () => make(Math.min(maxMs, ms * 2)),
  });
  return { duration: initialMs, next: () => make(initialMs) } as WatchBackoff;
}

/** True for errors worth another attempt at a read (the member or the leader may come back). */
function transient(e: CoordError): boolean {
  return e.code === 'unavailable';
}

export class EtcdStore implements CoordStore {
  private readonly client: Etcd3;
  private readonly opts: EtcdStoreOptions;
  private readonly ns: string;
  private readonly timeoutMs: number;
  private closed = false;
  private readonly watches = new Set<EtcdWatch>();

  constructor(opts: EtcdStoreOptions) {
    if (opts.hosts.length === 0) throw new Error('EtcdStore: no hosts');
    this.opts = opts;
    this.ns = opts.namespace ?? '';
    this.timeoutMs = opts.callTimeoutMs ?? 5000;
    const timeout = this.timeoutMs;
    this.client = new Etcd3({
      hosts: opts.hosts,
      ...(opts.credentials ? { credentials: opts.credentials } : {}),
      ...(opts.auth ? { auth: opts.auth } : {}),
      dialTimeout: opts.dialTimeoutMs ?? 3000,
      // unary calls get a deadline; streams (watch, keepalive) get theirs where they are opened
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeout }),
      // No client-level retry: a retried write that had applied would run twice (a create-if-absent
      // would then report false, a put emit two events). Reads retry here, within the deadline;
      // writes are at most once and a failure reaches the caller, who checks what the store holds.
      // Per member, the client's circuit breaker skips a member after 3 failures in a row. Its default
      // keeps the member shut out for 5 s: with one member that is 5 s of calls failing at once after
      // etcd is back (lease renewals too: a fence for nothing). Retried after 1 s here.
      faultHandling: {
        global: noop,
        host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 1000, breaker: new ConsecutiveBreaker(3) }),
        watchBackoff: watchBackoff(100, opts.watchMaxBackoffMs ?? 2000),
      },
      grpcOptions: {
        // notice a member that stopped answering on an open stream (etcd allows pings every >= 5 s)
        'grpc.keepalive_time_ms': 10_000,
        'grpc.keepalive_timeout_ms': 5_000,
        // gRPC's default 4 MiB cap on a response: 10,000 disks' keys (one range read) are more
        'grpc.max_receive_message_length': 1024 * 1024 * 1024,
      },
    });
  }

  // ---- helpers -------------------------------------------------------------------------------

  private k(key: string): Buffer {
    return enc(this.ns + key);
  }

  private unk(key: Buffer): string {
    const s = key.toString('utf8');
    return this.ns && s.startsWith(this.ns) ? s.slice(this.ns.length) : s;
  }

  private kv(k: IKeyValue): KeyValue {
    const out: KeyValue = {
      key: this.unk(k.key),
      value: k.value.toString('utf8'),
      createRevision: Number(k.create_revision),
      modRevision: Number(k.mod_revision),
    };
    if (k.lease && k.lease !== '0') out.lease = String(k.lease);
    return out;
  }

  private ensureOpen(): void {
    if (this.closed) throw new CoordError('closed', 'etcd store is closed');
  }

  /** Maps anything thrown by the client to a CoordError. */
  toCoordError(e: unknown, what: string): CoordError {
    if (e instanceof CoordError) return e;
    if (this.closed || e instanceof ClientClosedError) return new CoordError('closed', `${what}: etcd store is closed`);
    const err = e instanceof Error ? e : new Error(String(e));
    const msg = `${what}: ${err.message}`;
    if (e instanceof EtcdLeaseInvalidError || /requested lease not found/.test(err.message)) {
      return new CoordError('lease_lost', msg);
    }
    if (e instanceof GRPCDeadlineExceededError || /request timed out|deadline exceeded/i.test(err.message)) {
      return new CoordError('timeout', msg);
    }
    // unavailable, no leader, leader changed, broken circuit (member marked down), connection errors, ...
    return new CoordError('unavailable', msg);
  }

  /** Runs one attempt with a hard deadline (the gRPC deadline is per attempt; this caps the total). */
  private async deadline<T>(what: string, fn: () => Promise<T>, ms = this.timeoutMs): Promise<T> {
    this.ensureOpen();
    let timer: NodeJS.Timeout | undefined;
    const p = fn();
    p.catch(() => undefined); // a late rejection after the timeout is not unhandled
    try {
      return await Promise.race([
        p,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new CoordError('timeout', `${what}: no answer within ${ms} ms`)), ms);
        }),
      ]);
    } catch (e) {
      throw this.toCoordError(e, what);
    } finally {
      clearTimeout(timer);
    }
  }

  /** A read (or another idempotent call): retried on transient errors until the deadline. */
  private async read<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const end = Date.now() + this.timeoutMs;
    let delay = 50;
    for (;;) {
      const left = end - Date.now();
      try {
        return await this.deadline(what, fn, Math.max(left, 1));
      } catch (e) {
        const ce = this.toCoordError(e, what);
        if (!transient(ce) || Date.now() + delay >= end) throw ce;
        await sleep(delay);
        delay = Math.min(delay * 2, 500);
      }
    }
  }

  // ---- CoordStore ----------------------------------------------------------------------------

  async get(key: string): Promise<KeyValue | undefined> {
    const res = await this.read(`get ${key}`, () => this.client.kv.range({ key: this.k(key) }));
    const first = res.kvs[0];
    return first ? this.kv(first) : undefined;
  }

  async list(prefix: string): Promise<KeyValue[]> {
    const res = await this.read(`list ${prefix}`, () => this.client.kv.range({ ...prefixRange(this.k(prefix)), sort_order: 'Ascend', sort_target: 'Key' }));
    return res.kvs.map((k) => this.kv(k));
  }

  async put(key: string, value: string, opts?: { lease?: string }): Promise<void> {
    await this.deadline(`put ${key}`, () => this.client.kv.put({ key: this.k(key), value: enc(value), lease: opts?.lease ?? 0 }));
  }

  async delete(key: string): Promise<boolean> {
    const res = await this.deadline(`delete ${key}`, () => this.client.kv.deleteRange({ key: this.k(key) }));
    return Number(res.deleted) > 0;
  }

  async deletePrefix(prefix: string): Promise<number> {
    const res = await this.deadline(`deletePrefix ${prefix}`, () => this.client.kv.deleteRange(prefixRange(this.k(prefix))));
    return Number(res.deleted);
  }

  async txn(compares: Compare[], ops: TxnOp[]): Promise<boolean> {
    const compare: ICompare[] = compares.map((c) => ({
      key: this.k(c.key),
      target: 'Mod',
      result: 'Equal',
      mod_revision: c.modRevision, // etcd reports 0 for an absent key
    }));
    const success: IRequestOp[] = ops.map((op) => {
      switch (op.type) {
        case 'put':
          return { request_put: { key: this.k(op.key), value: enc(op.value), lease: op.lease ?? 0 } };
        case 'delete':
          return { request_delete_range: { key: this.k(op.key) } };
        case 'deletePrefix':
          return { request_delete_range: prefixRange(this.k(op.prefix)) };
        default:
          throw new TypeError(`unknown txn op ${JSON.stringify(op)}`);
      }
    });
    const res = await this.deadline('txn', () => this.client.kv.txn({ compare, success, failure: [] }));
    return res.succeeded;
  }

  async grantLease(ttlSeconds: number): Promise<Lease> {
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) throw new RangeError(`lease TTL must be a positive integer, got ${ttlSeconds}`);
    const res = await this.deadline('grantLease', () => this.client.leaseClient.leaseGrant({ TTL: ttlSeconds, ID: 0 }));
    // etcd may raise a TTL below its minimum (1.5 x election timeout, rounded up)
    return new EtcdLease(this, String(res.ID), Number(res.TTL) || ttlSeconds);
  }

  /**
   * One LeaseKeepAlive round trip on a fresh stream; resolves to the TTL etcd reports (0 = gone).
   * A renewal is idempotent, so it is retried (another member) on transient errors until the deadline.
   */
  keepAliveRoundTrip(id: string): Promise<number> {
    return this.read(`keepAlive ${id}`, () => this.keepAliveAttempt(id));
  }

  private keepAliveAttempt(id: string): Promise<number> {
    const ms = this.timeoutMs;
    return this.deadline(
      `keepAlive ${id}`,
      async () => {
        const stream = await this.client.leaseClient.leaseKeepAlive({ deadline: Date.now() + ms });
        return await new Promise<number>((resolve, reject) => {
          stream.on('error', reject); // stays attached: a late error must not be an unhandled 'error'
          stream.on('end', () => reject(new Error('keepalive stream ended without an answer')));
          stream.on('data', (res: { TTL: string }) => {
            resolve(Number(res.TTL));
            stream.end();
          });
          stream.write({ ID: id });
        });
      },
      ms,
    );
  }

  async leaseInfo(id: string): Promise<LeaseInfo | undefined> {
    const res = await this.read(`leaseInfo ${id}`, () => this.client.leaseClient.leaseTimeToLive({ ID: id, keys: false }));
    // etcd answers TTL -1 for a lease that does not exist (expired or revoked)
    const left = Number(res.TTL);
    if (!(left > 0)) return undefined;
    return { ttlSeconds: Number(res.grantedTTL), remainingSeconds: left };
  }

  async revokeLease(id: string): Promise<void> {
    try {
      await this.deadline(`revoke ${id}`, () => this.client.leaseClient.leaseRevoke({ ID: id }));
    } catch (e) {
      if (e instanceof CoordError && e.code === 'lease_lost') return; // already gone: its keys are too
      throw e;
    }
  }

  async watch(prefix: string, onEvent: (ev: WatchEvent) => void, onReset?: () => void): Promise<Watch> {
    this.ensureOpen();
    const w = new EtcdWatch(this, this.client, this.k(prefix), onEvent, onReset, (b) => this.unk(b));
    try {
      await this.deadline(`watch ${prefix}`, () => w.start());
    } catch (e) {
      await w.close();
      throw e;
    }
    this.watches.add(w);
    w.onClosed = () => this.watches.delete(w);
    return w;
  }

  /**
   * Asks each configured member for its status (maintenance Status), each through a client of its own
   * (the store's client spreads calls over the members and hides which one answered), 2 s each.
   */
  async memberStatus(): Promise<EtcdMemberStatus[]> {
    const o = this.opts;
    return Promise.all(
      o.hosts.map(async (endpoint) => {
        const c = new Etcd3({
          hosts: [endpoint],
          ...(o.credentials ? { credentials: o.credentials } : {}),
          ...(o.auth ? { auth: o.auth } : {}),
          dialTimeout: 2000,
          faultHandling: { global: noop, host: () => noop },
        });
        try {
          await c.maintenance.status({ deadline: Date.now() + 2000 });
          return { endpoint, ok: true };
        } catch {
          return { endpoint, ok: false };
        } finally {
          c.close();
        }
      }),
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await Promise.allSettled([...this.watches].map((w) => w.close()));
    this.closed = true;
    this.client.close();
  }

  get isClosed(): boolean {
    return this.closed;
  }
}

class EtcdLease implements Lease {
  constructor(
    private readonly store: EtcdStore,
    readonly id: string,
    readonly ttlSeconds: number,
  ) {}

  async keepAliveOnce(): Promise<void> {
    const ttl = await this.store.keepAliveRoundTrip(this.id);
    if (ttl <= 0) throw new CoordError('lease_lost', `lease ${this.id} no longer exists`);
  }

  revoke(): Promise<void> {
    return this.store.revokeLease(this.id);
  }
}

/**
 * A prefix watch. The client's watch manager re-creates the watcher after a broken stream from the
 * revision after the last one seen; we report that as a reset anyway. A watcher etcd cancels (e.g.
 * its revision was compacted away) is replaced by a new one from the current revision, plus a reset.
 */
class EtcdWatch implements Watch {
  private watcher: Watcher | undefined;
  private closed = false;
  private disconnected = false;
  private lastRevision = 0;
  onClosed: (() => void) | undefined;

  constructor(
    private readonly store: EtcdStore,
    private readonly client: Etcd3,
    private readonly prefix: Buffer,
    private readonly onEvent: (ev: WatchEvent) => void,
    private readonly onReset: (() => void) | undefined,
    private readonly unk: (b: Buffer) => string,
  ) {}

  async start(): Promise<void> {
    const b = this.client.watch();
    if (this.prefix.length === 0) b.inRange({ start: Buffer.from([0]), end: Buffer.from([0]) });
    else b.prefix(this.prefix);
    const w = b.watcher();
    this.watcher = w;
    w.on('disconnected', () => {
      this.disconnected = true;
    });
    w.on('connected', () => {
      if (this.disconnected) {
        this.disconnected = false;
        this.reset();
      }
    });
    w.on('data', (res: IWatchResponse) => this.deliver(res));
    let started = false;
    w.on('error', (err: Error) => {
      // cancelled by etcd after it ran: start again from now, and let the caller re-read
      if (!started || this.closed || this.watcher !== w) return;
      this.watcher = undefined;
      void this.restart(err);
    });
    try {
      await new Promise<void>((resolve, reject) => {
        w.once('connected', () => resolve());
        w.once('error', reject);
      });
      started = true;
    } catch (e) {
      if (this.watcher === w) this.watcher = undefined;
      await Promise.race([w.cancel().catch(() => undefined), sleep(1000)]);
      throw e;
    }
  }

  private async restart(_cause: Error): Promise<void> {
    let delay = 100;
    while (!this.closed && !this.store.isClosed) {
      try {
        await this.start();
        this.reset();
        return;
      } catch {
        await sleep(delay);
        delay = Math.min(delay * 2, 2000);
      }
    }
  }

  private reset(): void {
    if (this.closed || !this.onReset) return;
    try {
      this.onReset();
    } catch (e) {
      console.error('coord watch onReset handler threw', e);
    }
  }

  private deliver(res: IWatchResponse): void {
    if (this.closed) return;
    for (const ev of res.events) {
      const rev = Number(ev.kv.mod_revision);
      if (rev < this.lastRevision) continue; // never hand back an older revision
      this.lastRevision = rev;
      const out: WatchEvent =
        ev.type === 'Put'
          ? { type: 'put', key: this.unk(ev.kv.key), value: ev.kv.value.toString('utf8'), modRevision: rev }
          : { type: 'delete', key: this.unk(ev.kv.key), modRevision: rev };
      try {
        this.onEvent(out);
      } catch (e) {
        console.error('coord watch event handler threw', e);
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.onClosed?.();
    const w = this.watcher;
    this.watcher = undefined;
    if (!w) return;
    // cancel() waits for etcd's confirmation; never longer than a few seconds
    await Promise.race([w.cancel().catch(() => undefined), sleep(3000)]);
  }
}
