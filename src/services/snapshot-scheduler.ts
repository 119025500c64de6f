/**
 * Runs the disks' snapshot schedules (domain/snapshot-schedule.ts). Every `portway serve` runs one; only
 * the leader acts: the server that created `leaders/snapshot-scheduler` (create-if-absent) under its own
 * lease. It renews the lease every ttl/3; a leader that stops revokes it (the key goes at once), one that
 * dies loses it after the ttl, and another server takes over at its next tick. A leader acts only while
 * its last renewal is recent (under 60% of the ttl), so a stalled one stops before another can lead.
 *
 * Each tick (30 s) the leader takes every due schedule: a snapshot `auto-<UTC time>` through the snapshot
 * service (its checks and lock, as a manual one), then retention (the oldest automatic snapshots beyond
 * `keep`). Every snapshot taken or deleted, or refused, is audited (actor `scheduler`); a failure also
 * raises a `snapshot_failed` event. The run is recorded (`snapshot-runs/<id>`) for the disk page; a
 * failed run is tried again one interval later. Schedules of disks that no longer exist are deleted.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { CoordError, type CoordStore, type Lease } from '../adapters/coord/types.js';
import type { AuditOutcome } from '../domain/auth.js';
import { SNAPSHOT_RUNS, SNAPSHOT_SCHEDULER_LEADER, SNAPSHOT_SCHEDULES, diskKey, scheduleDiskId, snapshotRunKey, snapshotScheduleKey } from '../domain/keys.js';
import { readRecord, recordJson } from '../domain/records.js';
import {
  type ScheduleRun,
  type SnapshotSchedule,
  asRun,
  asSchedule,
  autoSnapshotName,
  due,
  everyText,
  lastRunTime,
  toPrune,
} from '../domain/snapshot-schedule.js';
import { errText } from '../util/errors.js';
import type { Actor } from './auth/audit-log.js';
import type { SnapshotService } from './snapshot-service.js';

export const SCHEDULER_ACTOR: Actor = { user: 'scheduler', via: 'system' };
const DEFAULT_TICK_MS = 30_000;
const DEFAULT_LEASE_TTL_S = 15;

export interface SnapshotSchedulerOptions {
  store: CoordStore;
  snapshots: SnapshotService;
  /** This server's name (the node name): shown as who runs the schedules. */
  node: string;
  log: Logger;
  /** The audit log (AuthService.appendAudit). */
  audit?: (actor: Actor, action: string, target: string, outcome: AuditOutcome, details?: Record<string, unknown>) => Promise<void>;
  /** Where failures go as events (EventService). */
  events?: { snapshotFailed(disk: string, message: string): Promise<void> };
  /** Tests only: how often to look (default 30 s) and the leader lease's ttl (default 15 s). */
  tickMs?: number;
  leaseTtlSeconds?: number;
  now?: () => number;
}

export class SnapshotScheduler {
  private lease: Lease | undefined;
  private lastRenewOk = 0;
  private leading = false;
  private readonly token = randomBytes(8).toString('hex');
  private timers: NodeJS.Timeout[] = [];
  private running: Promise<void> | undefined;
  private stopped = false;
  private readonly ttl: number;
  private readonly now: () => number;

  constructor(private readonly o: SnapshotSchedulerOptions) {
    this.ttl = o.leaseTtlSeconds ?? DEFAULT_LEASE_TTL_S;
    this.now = o.now ?? Date.now;
  }

  start(): void {
    this.timers.push(setInterval(() => void this.tick(), this.o.tickMs ?? DEFAULT_TICK_MS));
    this.timers.push(setInterval(() => void this.renew(), (this.ttl * 1000) / 3));
    void this.tick();
  }

  /** Whether this server leads now (tests, the log). */
  get isLeader(): boolean {
    return this.leading && this.fresh();
  }

  /** Stops ticking, waits for a run under way, and gives leadership up (the lease is revoked). */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.running;
    const lease = this.lease;
    this.lease = undefined;
    this.leading = false;
    if (lease) await lease.revoke().catch((e) => this.o.log.warn({ err: errText(e) }, 'snapshot scheduler lease not revoked'));
  }

  /** One look: lead if nobody does, and if leading, run what is due. Overlapping calls share the run. */
  tick(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.running ??= this.tickOnce()
      .catch((e) => this.o.log.warn({ err: errText(e) }, 'snapshot scheduler tick failed'))
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }

  private fresh(): boolean {
    return this.now() - this.lastRenewOk < this.ttl * 600;
  }

  private async renew(): Promise<void> {
    const lease = this.lease;
    if (!lease || this.stopped) return;
    try {
      await lease.keepAliveOnce();
      if (lease === this.lease) this.lastRenewOk = this.now();
    } catch (e) {
      if (lease !== this.lease) return;
      this.o.log.warn({ err: errText(e) }, 'snapshot scheduler lease renewal failed');
      if (e instanceof CoordError && e.code === 'lease_lost') {
        this.lease = undefined;
        if (this.leading) this.o.log.warn({ node: this.o.node }, 'no longer runs the snapshot schedules (lease lost)');
        this.leading = false;
      }
    }
  }

  /** Leads now? Takes the leader key if it is free. */
  private async lead(): Promise<boolean> {
    if (!this.lease) {
      const t = this.now();
      this.lease = await this.o.store.grantLease(this.ttl);
      this.lastRenewOk = t;
    }
    const cur = await this.o.store.get(SNAPSHOT_SCHEDULER_LEADER);
    if (cur) {
      const rec = readRecord('leader', cur.value);
      const mine = rec?.node === this.o.node && rec?.token === this.token;
      if (!mine && this.leading) this.o.log.warn({ node: this.o.node }, 'no longer runs the snapshot schedules');
      this.leading = mine;
      return mine;
    }
    const value = recordJson('leader', { node: this.o.node, token: this.token, since: new Date(this.now()).toISOString() });
    this.leading = await this.o.store.txn(
      [{ key: SNAPSHOT_SCHEDULER_LEADER, modRevision: 0 }],
      [{ type: 'put', key: SNAPSHOT_SCHEDULER_LEADER, value, lease: this.lease.id }],
    );
    if (this.leading) this.o.log.info({ node: this.o.node }, 'runs the snapshot schedules');
    return this.leading;
  }

  private async tickOnce(): Promise<void> {
    if (!(await this.lead())) return;
    const [schedules, runs] = await Promise.all([this.o.store.list(SNAPSHOT_SCHEDULES), this.o.store.list(SNAPSHOT_RUNS)]);
    const runOf = new Map<string, ScheduleRun>();
    for (const kv of runs) {
      const id = scheduleDiskId(kv.key);
      const run = id ? asRun(readRecord('snapshotRun', kv.value)) : undefined;
      if (id && run) runOf.set(id, run);
    }
    for (const kv of schedules) {
      if (this.stopped || !this.isLeader) return;
      const id = scheduleDiskId(kv.key);
      const schedule = id ? asSchedule(readRecord('snapshotSchedule', kv.value)) : undefined;
      if (!id || !schedule) continue;
      if (!(await this.o.store.get(diskKey(id)))) {
        // The disk is gone (deleted by a server of an older version, or by hand): so is its schedule.
        await this.o.store.txn(
          [{ key: kv.key, modRevision: kv.modRevision }],
          [
            { type: 'delete', key: snapshotScheduleKey(id) },
            { type: 'delete', key: snapshotRunKey(id) },
          ],
        );
        this.o.log.info({ disk: id }, 'snapshot schedule of a deleted disk removed');
        continue;
      }
      if (!schedule.enabled) continue;
      await this.runDue(id, schedule, runOf.get(id));
    }
  }

  /** Takes the disk's snapshot and prunes, if it is due. */
  private async runDue(id: string, schedule: SnapshotSchedule, run: ScheduleRun | undefined): Promise<void> {
    let last = lastRunTime(run, undefined);
    if (!run) {
      // No run recorded (a new schedule): its newest automatic snapshot, if any, is the last run.
      const listed = await this.o.snapshots.list(id);
      last = lastRunTime(undefined, listed.ok ? listed.snapshots : []);
    }
    const now = this.now();
    if (!due(schedule, last, now)) return;
    const at = new Date(now);
    const name = autoSnapshotName(at);
    const target = `disk:${id}`;
    const every = everyText(schedule.intervalMinutes);
    const taken = await this.o.snapshots.create(id, { name }, { scheduled: true });
    await this.audit('snapshot.create', target, taken.ok ? 'ok' : 'failed', {
      diskId: id,
      snapshot: name,
      schedule: `${every}, keep ${schedule.keep}`,
      ...(taken.ok ? {} : { code: taken.code }),
    });
    const result: ScheduleRun = { at: at.toISOString(), ok: taken.ok, snapshot: name, pruned: [] };
    if (!taken.ok) {
      result.code = taken.code;
      result.message = taken.message;
      this.o.log.warn({ disk: id, snapshot: name, code: taken.code }, 'scheduled snapshot failed');
      await this.event(id, `The scheduled snapshot ${name} of disk ${id} failed: ${taken.message} (${taken.code})`);
    } else {
      this.o.log.info({ disk: id, snapshot: name }, 'scheduled snapshot taken');
      await this.prune(id, schedule, result);
    }
    try {
      await this.o.store.put(snapshotRunKey(id), recordJson('snapshotRun', result));
    } catch (e) {
      this.o.log.warn({ disk: id, err: errText(e) }, 'snapshot run not recorded');
    }
  }

  /** Deletes the oldest automatic snapshots beyond keep; each audited, a failure an event. */
  private async prune(id: string, schedule: SnapshotSchedule, result: ScheduleRun): Promise<void> {
    const listed = await this.o.snapshots.list(id);
    if (!listed.ok) {
      result.ok = false;
      result.code = listed.code;
      result.message = `Retention could not list the snapshots: ${listed.message}`;
      await this.event(id, `Retention of disk ${id}'s scheduled snapshots failed: ${listed.message} (${listed.code})`);
      return;
    }
    for (const s of toPrune(listed.snapshots, schedule.keep)) {
      const r = await this.o.snapshots.delete(id, s.name);
      await this.audit('snapshot.delete', `disk:${id}`, r.ok ? 'ok' : 'failed', {
        diskId: id,
        snapshot: s.name,
        reason: `retention: keep ${schedule.keep}`,
        ...(r.ok ? {} : { code: r.code }),
      });
      if (r.ok) {
        result.pruned.push(s.name);
        continue;
      }
      result.ok = false;
      result.code = r.code;
      result.message = `Retention could not delete ${s.name}: ${r.message}`;
      await this.event(id, `Retention could not delete the scheduled snapshot ${s.name} of disk ${id}: ${r.message} (${r.code})`);
    }
  }

  private async audit(action: string, target: string, outcome: AuditOutcome, details: Record<string, unknown>): Promise<void> {
    await this.o.audit?.(SCHEDULER_ACTOR, action, target, outcome, details);
  }

  private async event(id: string, message: string): Promise<void> {
    try {
      await this.o.events?.snapshotFailed(id, message);
    } catch (e) {
      this.o.log.warn({ disk: id, err: errText(e) }, 'snapshot_failed event not recorded');
    }
  }
}
