/**
 * The disk list, kept in memory and up to date by watching the coordination store.
 *
 * A list of 10,000 disks read from the store every time is 50,000 keys to fetch and parse (with etcd,
 * more than gRPC's default 4 MiB message). This cache loads them once, then applies the watch's events
 * and re-assembles only the disks they touched; a list with no change since the last one returns the
 * same array (the API keeps its serialized body for it).
 *
 * Freshness:
 * - Read your own writes: the DiskService writes through track(store), which, after a write to a disk
 *   or owner key, waits until the watch has delivered it (or a later change to the same key) before it
 *   returns. So a list after an add, edit or delete answered by this process shows it.
 * - Other writers (agents, other API servers) show up as soon as their events arrive (milliseconds).
 * - When the watch may have missed events (etcd reconnect, onReset), or a write's event did not come
 *   within WRITE_WAIT_MS, the cache is dropped and the next list reloads from the store.
 */
import type { Logger } from 'pino';
import type { CoordStore, TxnOp, Watch, WatchEvent } from '../adapters/coord/types.js';
import { DISKS, OWNERS, assembleDisks, parseKey } from '../domain/keys.js';
import { errText } from '../util/errors.js';
import { type DiskView, diskView } from './disk-view.js';

/** How long a write waits for its own event before the cache gives up on it and reloads. */
const WRITE_WAIT_MS = 2000;

function diskIdOf(key: string): string | undefined {
  const k = parseKey(key);
  return k.kind === 'disk' || k.kind === 'path' || k.kind === 'owner' || k.kind === 'served' ? k.id : undefined;
}

const watched = (key: string): boolean => key.startsWith(DISKS) || key.startsWith(OWNERS);

interface Waiter {
  done: () => boolean;
  resolve: () => void;
}

export class DiskListCache {
  /** Every watched key with its value, grouped by disk id. */
  private readonly byDisk = new Map<string, Map<string, string>>();
  /** The sequence number of the last event seen for each key (for "changed since"). */
  private readonly lastSeq = new Map<string, number>();
  private seq = 0;
  private readonly views = new Map<string, DiskView>();
  private readonly dirty = new Set<string>();
  private sorted: DiskView[] | undefined;

  private watches: Watch[] | undefined;
  private opening: Promise<void> | undefined;
  private live = false;
  /** Bumped whenever the cache's content can no longer be trusted (watch reset, lost write event). */
  private generation = 0;
  private loading: Promise<boolean> | undefined;
  /** Events that arrive while a load reads the store: applied after it, in order. */
  private buffer: WatchEvent[] | undefined;
  private readonly waiters = new Set<Waiter>();
  /** Called on every change the watch delivers, and when the cache is dropped (events may be missed). */
  private readonly listeners = new Set<() => void>();
  private closed = false;

  constructor(
    private readonly store: CoordStore,
    private readonly log: Logger,
  ) {}

  /**
   * The disks, sorted by id; the same array as last time when nothing changed. Undefined when the
   * store cannot be watched or read right now (the caller reads it directly and reports the error).
   */
  async list(): Promise<readonly DiskView[] | undefined> {
    if (!this.live && !(await this.load())) return undefined;
    if (this.dirty.size > 0 || !this.sorted) {
      for (const id of this.dirty) {
        const keys = this.byDisk.get(id);
        const state = keys ? assembleDisks(Array.from(keys, ([key, value]) => ({ key, value }))).get(id) : undefined;
        if (state) this.views.set(id, diskView(state));
        else this.views.delete(id);
      }
      this.dirty.clear();
      this.sorted = [...this.views.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
    }
    return this.sorted;
  }

  /** A store whose writes to disk and owner keys return once this cache has seen them. */
  track(store: CoordStore): CoordStore {
    const after = async <T>(ops: TxnOp[], write: () => Promise<T>, applied: (r: T) => boolean): Promise<T> => {
      const mine = ops.filter((op) => (op.type === 'deletePrefix' ? watched(op.prefix) || DISKS.startsWith(op.prefix) : watched(op.key)));
      const from = this.seq;
      const r = await write();
      if (mine.length > 0 && applied(r)) await this.seen(mine, from);
      return r;
    };
    return {
      get: (key) => store.get(key),
      list: (prefix) => store.list(prefix),
      leaseInfo: (id) => store.leaseInfo(id),
      put: (key, value, opts) =>
        after(
          [{ type: 'put', key, value }],
          () => store.put(key, value, opts),
          () => true,
        ),
      delete: (key) =>
        after(
          [{ type: 'delete', key }],
          () => store.delete(key),
          (r) => r,
        ),
      deletePrefix: (prefix) =>
        after(
          [{ type: 'deletePrefix', prefix }],
          () => store.deletePrefix(prefix),
          (n) => n > 0,
        ),
      txn: (compares, ops) =>
        after(
          ops,
          () => store.txn(compares, ops),
          (r) => r,
        ),
      grantLease: (ttl) => store.grantLease(ttl),
      watch: (prefix, onEvent, onReset) => store.watch(prefix, onEvent, onReset),
      close: () => store.close(),
    };
  }

  /**
   * Calls onChange on every change to a disk, path or owner (and after a watch reset), through this
   * cache's watches: any number of subscribers cost no more store watches. Returns the unsubscribe.
   */
  async subscribe(onChange: () => void): Promise<() => void> {
    await this.openWatches();
    this.listeners.add(onChange);
    return () => {
      this.listeners.delete(onChange);
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.drop('closed');
    const ws = this.watches;
    this.watches = undefined;
    if (ws) await Promise.allSettled(ws.map((w) => w.close()));
  }

  // ---- loading and events ---------------------------------------------------------------------

  private load(): Promise<boolean> {
    this.loading ??= this.doLoad().finally(() => {
      this.loading = undefined;
    });
    return this.loading;
  }

  private async doLoad(): Promise<boolean> {
    if (this.closed) return false;
    const gen = this.generation;
    this.buffer = [];
    try {
      await this.openWatches();
      const [disks, owners] = await Promise.all([this.store.list(DISKS), this.store.list(OWNERS)]);
      if (gen !== this.generation || this.closed) return false;
      this.byDisk.clear();
      this.views.clear();
      this.dirty.clear();
      this.sorted = undefined;
      for (const kv of [...disks, ...owners]) this.set(kv.key, kv.value);
      const buffered = this.buffer;
      this.buffer = undefined;
      for (const ev of buffered) this.apply(ev);
      this.live = true;
      return true;
    } catch (e) {
      this.log.warn({ err: errText(e) }, 'disk list cache: cannot load; the list reads the store directly');
      return false;
    } finally {
      this.buffer = undefined;
    }
  }

  private openWatches(): Promise<void> {
    if (this.watches) return Promise.resolve();
    this.opening ??= (async () => {
      const onEvent = (ev: WatchEvent) => this.onEvent(ev);
      const onReset = () => this.drop('watch reset');
      const ws = await Promise.allSettled([this.store.watch(DISKS, onEvent, onReset), this.store.watch(OWNERS, onEvent, onReset)]);
      const ok = ws.flatMap((w) => (w.status === 'fulfilled' ? [w.value] : []));
      const failed = ws.find((w) => w.status === 'rejected');
      if (failed || this.closed) {
        await Promise.allSettled(ok.map((w) => w.close()));
        throw failed ? failed.reason : new Error('closed');
      }
      this.watches = ok;
    })().finally(() => {
      this.opening = undefined;
    });
    return this.opening;
  }

  private onEvent(ev: WatchEvent): void {
    if (this.buffer) this.buffer.push(ev);
    else if (this.live) this.apply(ev);
    this.seq++;
    this.lastSeq.set(ev.key, this.seq);
    this.wake();
    this.notify();
  }

  private notify(): void {
    for (const fn of this.listeners) {
      try {
        fn();
      } catch (e) {
        this.log.error({ err: errText(e) }, 'disk list cache: a change listener threw');
      }
    }
  }

  private apply(ev: WatchEvent): void {
    if (ev.type === 'put' && ev.value !== undefined) this.set(ev.key, ev.value);
    else this.unset(ev.key);
  }

  private set(key: string, value: string): void {
    const id = diskIdOf(key);
    if (id === undefined) return;
    let keys = this.byDisk.get(id);
    if (!keys) {
      keys = new Map();
      this.byDisk.set(id, keys);
    }
    keys.set(key, value);
    this.dirty.add(id);
  }

  private unset(key: string): void {
    const id = diskIdOf(key);
    if (id === undefined) return;
    const keys = this.byDisk.get(id);
    if (!keys?.delete(key)) return;
    if (keys.size === 0) this.byDisk.delete(id);
    this.dirty.add(id);
  }

  /** Forget everything: the next list reloads (the watches stay open). */
  private drop(why: string): void {
    this.generation++;
    if (this.live) this.log.info({ why }, 'disk list cache dropped; the next list reloads');
    this.live = false;
    this.byDisk.clear();
    this.views.clear();
    this.dirty.clear();
    this.sorted = undefined;
    this.lastSeq.clear();
    this.wake(true);
    if (!this.closed) this.notify();
  }

  // ---- read your own writes -------------------------------------------------------------------

  /** Resolves once every op's effect (or a later change of its key) has reached the cache. */
  private async seen(ops: TxnOp[], from: number): Promise<void> {
    // A load in flight may have read the store before this write: its event is applied after it.
    if (this.loading) await this.loading;
    if (!this.live) return; // the next list reloads from the store anyway
    const gen = this.generation;
    const changedSince = (key: string) => (this.lastSeq.get(key) ?? 0) > from;
    const holds = (op: TxnOp): boolean => {
      if (op.type === 'deletePrefix') {
        for (const keys of this.byDisk.values()) for (const k of keys.keys()) if (k.startsWith(op.prefix)) return false;
        return true;
      }
      const id = diskIdOf(op.key);
      if (id === undefined) return true; // a key the list does not show
      const cur = this.byDisk.get(id)?.get(op.key);
      return changedSince(op.key) || (op.type === 'put' ? cur === op.value : cur === undefined);
    };
    const done = () => gen !== this.generation || !this.live || ops.every(holds);
    if (done()) return;
    await new Promise<void>((resolve) => {
      const w: Waiter = { done, resolve };
      const timer = setTimeout(() => {
        if (!this.waiters.delete(w)) return;
        this.log.warn({ keys: ops.map((o) => (o.type === 'deletePrefix' ? o.prefix : o.key)) }, 'disk list cache: a write was not seen by the watch in time');
        this.drop('write not seen');
        resolve();
      }, WRITE_WAIT_MS);
      w.resolve = () => {
        clearTimeout(timer);
        resolve();
      };
      this.waiters.add(w);
    });
  }

  private wake(all = false): void {
    for (const w of this.waiters)
      if (all || w.done()) {
        this.waiters.delete(w);
        w.resolve();
      }
  }
}
