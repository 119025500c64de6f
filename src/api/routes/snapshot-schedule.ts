/** A disk's snapshot schedule: read, set, delete (docs/OPERATIONS.md "Snapshot schedules"). */
import type { FastifyInstance } from 'fastify';
import type { SnapshotSchedule } from '../../domain/snapshot-schedule.js';
import type { SnapshotSchedules } from '../../services/snapshot-schedules.js';
import { actorOf, audit } from '../auth-plugin.js';
import { answer, operations } from '../route.js';
import { DiskIdParams, SnapshotScheduleChanged, SnapshotScheduleSet, SnapshotScheduleState, SnapshotScheduleView } from '../schemas.js';
import { Type } from '@sinclair/typebox';

const op = operations(['snapshots']);
type ById = { Params: { id: string } };
const FIELDS = ['intervalMinutes', 'keep', 'enabled'] as const;

/** What an entry says about a schedule set: its values, and what changed ({from, to}) when it replaced one. */
function scheduleDetails(s: SnapshotSchedule, before: SnapshotSchedule | null): Record<string, unknown> {
  const values = { intervalMinutes: s.intervalMinutes, keep: s.keep, enabled: s.enabled };
  if (!before) return { ...values, created: true };
  const changes: Record<string, unknown> = {};
  for (const k of FIELDS) if (before[k] !== s[k]) changes[k] = { from: before[k], to: s[k] };
  return { ...values, changes };
}

export function snapshotScheduleRoutes(app: FastifyInstance, schedules: SnapshotSchedules): void {
  const path = '/api/v1/disks/:id/snapshot-schedule';
  app.get<ById>(
    path,
    op('ViewOnly', "A disk's snapshot schedule", {
      description:
        'The schedule (null: none), when the next snapshot is due, the last run (its snapshot, what retention deleted, or the failure) and the API server that runs the schedules.',
      params: DiskIdParams,
      reply: [200, SnapshotScheduleState],
      errors: [404, 503],
    }),
    async (req, reply) =>
      answer(reply, await schedules.get(req.params.id), (r) => ({ schedule: r.schedule, nextRunAt: r.nextRunAt, lastRun: r.lastRun, runBy: r.runBy })),
  );

  const put = op('ManageSnapshots', "Set a disk's snapshot schedule", {
    description:
      "Every intervalMinutes one API server (the holder of the scheduler's lease) takes a snapshot auto-YYYYMMDD-HHMMSS (UTC) and deletes the oldest automatic ones beyond keep (manual snapshots are never deleted; names starting auto- are reserved). Absent fields keep their values; a new schedule needs intervalMinutes. Failures are audited and raised as snapshot_failed events. On file images without reflink a snapshot needs the disk stopped: runs of a started disk fail (snapshot_needs_stop).",
    params: DiskIdParams,
    body: SnapshotScheduleSet,
    reply: [200, SnapshotScheduleChanged],
    errors: [400, 404, 503],
  });
  app.put<ById>(path, put, async (req, reply) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const who = actorOf(req).user;
    const r = await schedules.set(req.params.id, body, who);
    await audit(
      req,
      'snapshot.schedule.set',
      `disk:${req.params.id.slice(0, 20)}`,
      r.ok ? 'ok' : 'failed',
      r.ok ? { diskId: req.params.id, ...scheduleDetails(r.schedule, r.before) } : { diskId: req.params.id.slice(0, 20), code: r.code },
    );
    return answer(reply, r, (ok) => ({ schedule: ok.schedule }));
  });

  const del = op('ManageSnapshots', "Delete a disk's snapshot schedule", {
    description: 'No more automatic snapshots; those taken stay (delete them like any snapshot).',
    params: DiskIdParams,
    reply: [200, Type.Object({ schedule: SnapshotScheduleView }, { description: 'Deleted (the schedule it was)' })],
    errors: [404, 503],
  });
  app.delete<ById>(path, del, async (req, reply) => {
    const r = await schedules.delete(req.params.id);
    await audit(
      req,
      'snapshot.schedule.delete',
      `disk:${req.params.id.slice(0, 20)}`,
      r.ok ? 'ok' : 'failed',
      r.ok
        ? { diskId: req.params.id, intervalMinutes: r.schedule.intervalMinutes, keep: r.schedule.keep }
        : { diskId: req.params.id.slice(0, 20), code: r.code },
    );
    return answer(reply, r, (ok) => ({ schedule: ok.schedule }));
  });
}
