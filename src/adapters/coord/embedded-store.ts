/**
 * The embedded coordination store for a single box: etcd's semantics (revisions, atomic transactions,
 * leases that expire and delete their keys, prefix watches) in process, persisted to a write-ahead log
 * that is fsynced on every change and compacted into a snapshot at open, so a restart loses nothing.
 */
import {
  closeSync,
  existsSync,
  fdatasyncSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { type Compare, type CoordStore, CoordError, type KeyValue, type Lease, type LeaseInfo, type TxnOp, type Watch, type WatchEvent } from './types.js';

interface Entry {
  value: string;
  createRevision: number;
  modRevision: number;
  lease?: string;
}

interface LeaseEntry {
  ttlSeconds: number;
  /** Wall-clock ms since epoch: survives restarts. */
  expiresAt: number;
}

type LogRecord =
  | { r: number; op: 'put'; k: string; v: string; l?: string }
  | { r: number; op: 'del'; k: string }
  | { op: 'lease'; id: string; ttl: number; exp: number }
  | { op: 'unlease'; id: string };

interface Snapshot {
  revision: number;
  nextLease: number;
  kv: [string, Entry][];
  leases: [string, LeaseEntry][];
}

function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

interface Watcher {
  prefix: string;
  onEvent: (ev: WatchEvent) => void;
}

export interface EmbeddedStoreOptions {
  /** Directory for snapshot.json and wal.log; omit for an in-memory store (tests). */
  dir?: string;
  /** How often expired leases are collected. */
  tickMs?: number;
  now?: () => number;
}

export class EmbeddedStore implements CoordStore {
  private kv = new Map<string, Entry>();
  private leases = new Map<string, LeaseEntry>();
  private revision = 0;
  private nextLease = 1;
  private watchers = new Set<Watcher>();
  private walFd: number | undefined;
  private lockPath: string | undefined;
  private timer: NodeJS.Timeout;
  private closed = false;
  private readonly now: () => number;

  constructor(opts: EmbeddedStoreOptions = {}) {
    this.now = opts.now ?? Date.now;
    if (opts.dir) this.load(opts.dir);
    this.timer = setInterval(() => this.expireLeases(), opts.tickMs ?? 200);
    this.timer.unref();
    this.expireLeases();
  }

  /** One opener at a time: a second one would compact the log under the first one's feet. */
  private lock(dir: string): void {
    const path = join(dir, 'lock');
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        writeFileSync(path, String(process.pid), { flag: 'wx' });
        this.lockPath = path;
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const pid = Number(readFileSync(path, 'utf8'));
      if (pidAlive(pid)) throw new CoordError('unavailable', `the embedded store in ${dir} is in use by process ${pid}; stop it first`);
      rmSync(path, { force: true }); // left by a process that is gone
    }
    throw new CoordError('unavailable', `cannot lock the embedded store in ${dir}`);
  }

  private load(dir: string): void {
    mkdirSync(dir, { recursive: true });
    this.lock(dir);
    const snapPath = join(dir, 'snapshot.json');
    const walPath = join(dir, 'wal.log');
    if (existsSync(snapPath)) {
      const s = JSON.parse(readFileSync(snapPath, 'utf8')) as Snapshot;
      this.revision = s.revision;
      this.nextLease = s.nextLease;
      this.kv = new Map(s.kv);
      this.leases = new Map(s.leases);
    }
    if (existsSync(walPath)) {
      const lines = readFileSync(walPath, 'utf8').split('\n');
      for (const line of lines) {
        if (line === '') continue;
        let rec: LogRecord;
        try {
          rec = JSON.parse(line) as LogRecord;
        } catch {
          break; // a torn last write: everything before it was acknowledged, it was not
        }
        this.replay(rec);
      }
    }
    // Compact: write the state as a new snapshot, then start an empty log.
    const snap: Snapshot = { revision: this.revision, nextLease: this.nextLease, kv: [...this.kv], leases: [...this.leases] };
    const tmp = `${snapPath}.tmp`;
    writeFileSync(tmp, JSON.stringify(snap));
    const fd = openSync(tmp, 'r');
    fdatasyncSync(fd);
    closeSync(fd);
    renameSync(tmp, snapPath);
    writeFileSync(walPath, '');
    this.walFd = openSync(walPath, 'a');
  }

  private replay(rec: LogRecord): void {
    switch (rec.op) {
      case 'put': {
        const prev = this.kv.get(rec.k);
        this.kv.set(rec.k, { value: rec.v, createRevision: prev?.createRevision ?? rec.r, modRevision: rec.r, ...(rec.l ? { lease: rec.l } : {}) });
        this.revision = rec.r;
        break;
      }
      case 'del':
        this.kv.delete(rec.k);
        this.revision = rec.r;
        break;
      case 'lease':
        this.leases.set(rec.id, { ttlSeconds: rec.ttl, expiresAt: rec.exp });
        this.nextLease = Math.max(this.nextLease, Number(rec.id) + 1);
        break;
      case 'unlease':
        this.leases.delete(rec.id);
        break;
    }
  }

  /**
   * Appends records to the log and syncs them; all or nothing. A write that fails (a full disk,
   * an I/O error) or comes up short is cut off again, so no torn line can hide later records from
   * the replay, and the caller learns that nothing was logged (CoordError 'unavailable').
   */
  private log(recs: LogRecord[]): void {
    if (this.walFd === undefined || recs.length === 0) return;
    const fd = this.walFd;
    const buf = Buffer.from(`${recs.map((r) => JSON.stringify(r)).join('\n')}\n`, 'utf8');
    const size = fstatSync(fd).size;
    try {
      for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off, buf.length - off);
      fdatasyncSync(fd);
    } catch (e) {
      try {
        ftruncateSync(fd, size);
      } catch {}
      throw new CoordError('unavailable', `the coordination store cannot write its log: ${(e as Error).message}`);
    }
  }

  private check(): void {
    if (this.closed) throw new CoordError('closed', 'the coordination store is closed');
  }

  private emit(events: WatchEvent[]): void {
    if (events.length === 0) return;
    for (const w of this.watchers) {
      const mine = events.filter((e) => e.key.startsWith(w.prefix));
      if (mine.length === 0) continue;
      queueMicrotask(() => {
        if (!this.watchers.has(w)) return;
        for (const e of mine) w.onEvent(e);
      });
    }
  }

  /**
   * Applies ops at one new revision; all or nothing (ops are validated before any is applied, and
   * undone in memory when their log records cannot be written).
   */
  private apply(ops: TxnOp[]): void {
    for (const op of ops)
      if (op.type === 'put' && op.lease !== undefined && !this.leases.has(op.lease)) throw new CoordError('lease_lost', `lease ${op.lease} not found`);
    const rev = this.revision + 1;
    const recs: LogRecord[] = [];
    const events: WatchEvent[] = [];
    const undo = new Map<string, Entry | undefined>();
    const touch = (k: string) => {
      if (!undo.has(k)) undo.set(k, this.kv.get(k));
    };
    const del = (k: string) => {
      touch(k);
      if (!this.kv.delete(k)) return;
      recs.push({ r: rev, op: 'del', k });
      events.push({ type: 'delete', key: k, modRevision: rev });
    };
    for (const op of ops) {
      if (op.type === 'put') {
        const prev = this.kv.get(op.key);
        const e: Entry = { value: op.value, createRevision: prev?.createRevision ?? rev, modRevision: rev };
        if (op.lease !== undefined) e.lease = op.lease;
        touch(op.key);
        this.kv.set(op.key, e);
        recs.push(op.lease !== undefined ? { r: rev, op: 'put', k: op.key, v: op.value, l: op.lease } : { r: rev, op: 'put', k: op.key, v: op.value });
        events.push({ type: 'put', key: op.key, value: op.value, modRevision: rev });
      } else if (op.type === 'delete') {
        del(op.key);
      } else {
        for (const k of [...this.kv.keys()]) if (k.startsWith(op.prefix)) del(k);
      }
    }
    if (recs.length === 0) return;
    try {
      this.log(recs);
    } catch (e) {
      for (const [k, prev] of undo) {
        if (prev) this.kv.set(k, prev);
        else this.kv.delete(k);
      }
      throw e;
    }
    this.revision = rev;
    this.emit(events);
  }

  private expireLeases(): void {
    if (this.closed) return;
    const now = this.now();
    for (const [id, l] of this.leases) {
      if (l.expiresAt > now) continue;
      try {
        this.dropLease(id);
      } catch {
        // The deletion could not be logged (disk full): the lease and its keys stay until a later tick can.
      }
    }
  }

  private dropLease(id: string): void {
    if (!this.leases.has(id)) return;
    const keys = [...this.kv].filter(([, e]) => e.lease === id).map(([k]) => k);
    this.apply(keys.map((key) => ({ type: 'delete', key })));
    this.leases.delete(id);
    try {
      this.log([{ op: 'unlease', id }]);
    } catch {
      // Its keys are gone (logged above); a lease record left in the log expires again on replay.
    }
  }

  private toKv(key: string, e: Entry): KeyValue {
    const kv: KeyValue = { key, value: e.value, createRevision: e.createRevision, modRevision: e.modRevision };
    if (e.lease !== undefined) kv.lease = e.lease;
    return kv;
  }

  async get(key: string): Promise<KeyValue | undefined> {
    this.check();
    const e = this.kv.get(key);
    return e ? this.toKv(key, e) : undefined;
  }

  async list(prefix: string): Promise<KeyValue[]> {
    this.check();
    const out: KeyValue[] = [];
    for (const [k, e] of this.kv) if (k.startsWith(prefix)) out.push(this.toKv(k, e));
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async put(key: string, value: string, opts: { lease?: string } = {}): Promise<void> {
    this.check();
    this.apply([{ type: 'put', key, value, ...(opts.lease !== undefined ? { lease: opts.lease } : {}) }]);
  }

  async delete(key: string): Promise<boolean> {
    this.check();
    const had = this.kv.has(key);
    this.apply([{ type: 'delete', key }]);
    return had;
  }

  async deletePrefix(prefix: string): Promise<number> {
    this.check();
    let n = 0;
    for (const k of this.kv.keys()) if (k.startsWith(prefix)) n++;
    this.apply([{ type: 'deletePrefix', prefix }]);
    return n;
  }

  async txn(compares: Compare[], ops: TxnOp[]): Promise<boolean> {
    this.check();
    for (const c of compares) if ((this.kv.get(c.key)?.modRevision ?? 0) !== c.modRevision) return false;
    this.apply(ops);
    return true;
  }

  async grantLease(ttlSeconds: number): Promise<Lease> {
    this.check();
    const id = String(this.nextLease++);
    const entry = { ttlSeconds, expiresAt: this.now() + ttlSeconds * 1000 };
    this.log([{ op: 'lease', id, ttl: ttlSeconds, exp: entry.expiresAt }]);
    this.leases.set(id, entry);
    return {
      id,
      ttlSeconds,
      keepAliveOnce: async () => {
        this.check();
        const l = this.leases.get(id);
        if (!l || l.expiresAt <= this.now()) {
          this.dropLease(id);
          throw new CoordError('lease_lost', `lease ${id} has expired`);
        }
        l.expiresAt = this.now() + ttlSeconds * 1000;
        try {
          this.log([{ op: 'lease', id, ttl: ttlSeconds, exp: l.expiresAt }]);
        } catch {
          // A renewal that cannot be logged (disk full) still holds while this process runs; after a
          // restart the lease expires at its last logged time, which only frees its keys sooner.
        }
      },
      revoke: async () => {
        this.check();
        this.dropLease(id);
      },
    };
  }

  async leaseInfo(id: string): Promise<LeaseInfo | undefined> {
    this.check();
    const l = this.leases.get(id);
    const left = l ? l.expiresAt - this.now() : 0;
    if (!l || left <= 0) return undefined;
    return { ttlSeconds: l.ttlSeconds, remainingSeconds: Math.ceil(left / 1000) };
  }

  async watch(prefix: string, onEvent: (ev: WatchEvent) => void): Promise<Watch> {
    this.check();
    const w: Watcher = { prefix, onEvent };
    this.watchers.add(w);
    return {
      close: async () => {
        this.watchers.delete(w);
      },
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.watchers.clear();
    if (this.walFd !== undefined) closeSync(this.walFd);
    this.walFd = undefined;
    if (this.lockPath) rmSync(this.lockPath, { force: true });
    this.lockPath = undefined;
  }
}
