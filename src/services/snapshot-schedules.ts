/**
 * A disk's snapshot schedule in the coordination store (`snapshot-schedules/<id>`): read with its next
 * run, last result and the server that runs it, set, deleted. The scheduler (snapshot-scheduler.ts)
 * carries the schedules out; this is what the API reads and writes.
 */
import type { Logger } from 'pino';
import type { CoordStore } from '../adapters/coord/types.js';
import { type LeaderRecord, SNAPSHOT_SCHEDULER_LEADER, snapshotRunKey, snapshotScheduleKey } from '../domain/keys.js';
import { type Failure, fail } from '../domain/outcomes.js';
import { readRecord, recordJson } from '../domain/records.js';
import {
  type ScheduleRequest,
  type ScheduleRun,
  type SnapshotSchedule,
  asRun,
  asSchedule,
  lastRunTime,
  nextRun,
  parseSchedule,
} from '../domain/snapshot-schedule.js';
import { errText } from '../util/errors.js';
import type { SnapshotService } from './snapshot-service.js';

type Result<T> = ({ ok: true } & T) | Failure;

export interface ScheduleState {
  schedule: SnapshotSchedule | null;
  /** When the next snapshot is due (ISO; in the past: at the scheduler's next tick); null: none or paused. */
  nextRunAt: string | null;
  lastRun: ScheduleRun | null;
  /** The API server running the schedules now (null: none holds the lease right now). */
  runBy: string | null;
}

/** The disk access the schedules need: the disk's existence and lock, its snapshots. */
export interface ScheduleAccess {
  locked<T>(id: string, fn: () => Promise<Result<T>>, exclusive?: boolean): Promise<Result<T>>;
}

export class SnapshotSchedules {
  constructor(
    private readonly store: CoordStore,
    private readonly disks: ScheduleAccess,
    private readonly snapshots: SnapshotService,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  private async read(id: string): Promise<{ schedule?: SnapshotSchedule; run?: ScheduleRun }> {
    const [s, r] = await Promise.all([this.store.get(snapshotScheduleKey(id)), this.store.get(snapshotRunKey(id))]);
    const schedule = s ? asSchedule(readRecord('snapshotSchedule', s.value)) : undefined;
    const run = r ? asRun(readRecord('snapshotRun', r.value)) : undefined;
    return { ...(schedule ? { schedule } : {}), ...(run ? { run } : {}) };
  }

  private storeFailure(id: string, e: unknown): Failure {
    this.log.error({ disk: id, err: errText(e) }, 'snapshot schedule store access failed');
    return fail('coordination_error', 'The coordination store did not answer; nothing was changed. Try again.');
  }

  /** The schedule of a disk (null: none), its next run and last result. disk_not_found for an unknown disk. */
  async get(id: string): Promise<Result<ScheduleState>> {
    // The snapshots tell when the schedule last ran if no run is recorded; unreadable (the image gone,
    // the backend down): the schedule is still shown, with its last run's failure.
    const listed = await this.snapshots.list(id);
    if (!listed.ok && (listed.code === 'disk_not_found' || listed.code === 'disk_list_unreadable')) return listed;
    try {
      const { schedule, run } = await this.read(id);
      const leader = await this.store.get(SNAPSHOT_SCHEDULER_LEADER);
      const runBy = leader ? ((readRecord('leader', leader.value) as Partial<LeaderRecord> | undefined)?.node ?? null) : null;
      const next = schedule ? nextRun(schedule, lastRunTime(run, listed.ok ? listed.snapshots : undefined), this.now()) : undefined;
      return {
        ok: true,
        schedule: schedule ?? null,
        nextRunAt: next === undefined ? null : new Date(next).toISOString(),
        lastRun: run ?? null,
        runBy: typeof runBy === 'string' ? runBy : null,
      };
    } catch (e) {
      return this.storeFailure(id, e);
    }
  }

  /** Sets the schedule (absent fields keep the current values). `before`: the schedule it replaced. */
  async set(id: string, req: ScheduleRequest, who: string): Promise<Result<{ schedule: SnapshotSchedule; before: SnapshotSchedule | null }>> {
    return this.disks.locked(id, async () => {
      let before: SnapshotSchedule | undefined;
      try {
        before = (await this.read(id)).schedule;
      } catch (e) {
        return this.storeFailure(id, e);
      }
      const parsed = parseSchedule(req, before, who, new Date(this.now()));
      if (!parsed.ok) return parsed;
      try {
        await this.store.put(snapshotScheduleKey(id), recordJson('snapshotSchedule', parsed.schedule));
      } catch (e) {
        return this.storeFailure(id, e);
      }
      this.log.info(
        { disk: id, every: parsed.schedule.intervalMinutes, keep: parsed.schedule.keep, enabled: parsed.schedule.enabled },
        'snapshot schedule set',
      );
      return { ok: true, schedule: parsed.schedule, before: before ?? null };
    });
  }

  /** Deletes the schedule (its automatic snapshots stay). snapshot_schedule_not_found when there is none. */
  async delete(id: string): Promise<Result<{ schedule: SnapshotSchedule }>> {
    return this.disks.locked(id, async () => {
      try {
        const { schedule } = await this.read(id);
        if (!schedule) return fail('snapshot_schedule_not_found', `Disk ${id} has no snapshot schedule.`);
        await this.store.txn(
          [],
          [
            { type: 'delete', key: snapshotScheduleKey(id) },
            { type: 'delete', key: snapshotRunKey(id) },
          ],
        );
        this.log.info({ disk: id }, 'snapshot schedule deleted');
        return { ok: true, schedule };
      } catch (e) {
        return this.storeFailure(id, e);
      }
    });
  }
}
