/** portway snapshot list|create|delete|rollback: a disk's snapshots through the HTTP API. */
import { parseArgs } from 'node:util';
import type { SnapshotList, SnapshotScheduleState, SnapshotScheduleView, SnapshotView } from '../api/wire.js';
import { everyText, parseEvery } from '../domain/snapshot-schedule.js';
import { ApiError, type CliConfig, call, loadCliConfig } from './client.js';
import { DISK_OPTIONS, addBody } from './disk-command.js';
import { table } from './table.js';
import type { DiskView } from '../api/wire.js';

export const SNAPSHOT_USAGE = `  portway snapshot list ID [--json]            a disk's snapshots (time, size, clones)
  portway snapshot create ID NAME [--json]      take a snapshot (file images without reflink: stop the disk first)
  portway snapshot delete ID NAME
  portway snapshot rollback ID NAME             the disk must be stopped; data written since is lost
  portway snapshot clone ID NAME --name NEW [--paths N] [--subnet 1|2|3] [--ip IP ...] [--acl IQN|all]
                   [--chap-user U --chap-password-stdin] [--placement shared|spread] [--flatten] [--json]
                   a new disk with the snapshot's data (its own id, IQN and IPs)
  portway snapshot flatten ID                   copy a clone's data out of its parent snapshot (background)
  portway snapshot schedule ID [--json]         the disk's snapshot schedule: interval, keep, next run, last result
  portway snapshot schedule ID [--every 60m|1h|1d] [--keep N] [--pause|--resume]
                   set it: a snapshot auto-YYYYMMDD-HHMMSS (UTC) every interval (5 min to 7 days), the
                   oldest automatic ones beyond N (1-500, default 24) deleted; manual ones never
  portway snapshot schedule ID --off            delete the schedule (its snapshots stay)`;

const OPTIONS = {
  ...DISK_OPTIONS,
  flatten: { type: 'boolean' },
  every: { type: 'string' },
  keep: { type: 'string' },
  off: { type: 'boolean' },
  pause: { type: 'boolean' },
  resume: { type: 'boolean' },
} as const;

const out = (s: string): void => {
  process.stdout.write(`${s}\n`);
};

const size = (b: number | undefined) => (b === undefined ? '-' : b >= 1024 ** 3 ? `${(b / 1024 ** 3).toFixed(1)} GiB` : `${(b / 1024 ** 2).toFixed(1)} MiB`);

function printSnapshots(list: SnapshotView[]): void {
  out(
    table(
      ['NAME', 'TAKEN', 'SIZE', 'USED', 'CLONES'],
      list.map((s) => [
        s.progressPct === undefined ? s.name : `${s.name} (copying ${s.progressPct}%)`,
        s.createdAt,
        size(s.sizeBytes),
        size(s.usedBytes),
        s.clones.join(' ') || '-',
      ]),
    ),
  );
}

export async function snapshotCommand(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true });
  const [sub, id, name] = positionals;
  if (sub === 'flatten') {
    if (!id) throw new ApiError(0, 'usage', 'portway snapshot flatten needs a disk id');
    const c0 = await loadCliConfig();
    if (v.url) c0.url = v.url;
    if (v.token) c0.token = v.token;
    const r = await call<{ flattening: boolean }>(c0, 'POST', `/api/v1/disks/${encodeURIComponent(id)}/flatten`);
    return out(r.flattening ? `disk ${id} is being flattened` : `disk ${id} depends on no snapshot`);
  }
  const c = await loadCliConfig();
  if (v.url) c.url = v.url;
  if (v.token) c.token = v.token;
  if (!id) throw new ApiError(0, 'usage', `portway snapshot ${sub ?? ''} needs a disk id\n${SNAPSHOT_USAGE}`);
  const base = `/api/v1/disks/${encodeURIComponent(id)}/snapshots`;
  const needName = () => {
    if (!name) throw new ApiError(0, 'usage', `portway snapshot ${sub} needs a snapshot name`);
    return encodeURIComponent(name);
  };
  switch (sub) {
    case 'schedule':
      return scheduleCommand(c, id, v);
    case 'list': {
      const r = await call<SnapshotList>(c, 'GET', base);
      if (v.json) return out(JSON.stringify(r, null, 2));
      if (r.parent) out(`disk ${id} is a clone of ${r.parent.disk}@${r.parent.snapshot}${r.parent.flattening ? ' (flattening)' : ''}`);
      if (r.snapshots.length === 0) return out(`disk ${id} has no snapshots (${r.mode === 'instant' ? 'instant' : 'full copies, taken while stopped'})`);
      return printSnapshots(r.snapshots);
    }
    case 'create': {
      needName();
      const r = await call<{ snapshot: SnapshotView }>(c, 'POST', base, { name });
      return v.json ? out(JSON.stringify(r.snapshot, null, 2)) : out(`snapshot ${r.snapshot.name} of disk ${id} taken`);
    }
    case 'delete': {
      await call(c, 'DELETE', `${base}/${needName()}`);
      return out(`snapshot ${name} of disk ${id} deleted`);
    }
    case 'rollback': {
      await call(c, 'POST', `${base}/${needName()}/rollback`);
      return out(`disk ${id} rolled back to snapshot ${name}`);
    }
    case 'clone': {
      needName();
      const { size: _ignored, ...rest } = v;
      const body = { ...(await addBody(rest)), ...(v.flatten ? { flatten: true } : {}) };
      delete (body as { sizeGb?: unknown }).sizeGb;
      const r = await call<{ disk: DiskView }>(c, 'POST', `${base}/${needName()}/clone`, body);
      return v.json ? out(JSON.stringify(r.disk, null, 2)) : out(`disk ${r.disk.id} "${r.disk.name}" cloned from ${id}@${name} (${r.disk.status})`);
    }
    default:
      throw new ApiError(0, 'usage', `unknown snapshot command ${sub ?? ''}\n${SNAPSHOT_USAGE}`);
  }
}

type Flags = { json?: boolean; every?: string; keep?: string; off?: boolean; pause?: boolean; resume?: boolean };

/** The schedule in one line. */
export function scheduleText(s: SnapshotScheduleView): string {
  return `${everyText(s.intervalMinutes)}, keep ${s.keep}${s.enabled ? '' : ' (paused)'}`;
}

/** The request body of `snapshot schedule` flags; undefined: no change asked (show it). */
export function scheduleBody(v: Flags): Record<string, unknown> | undefined {
  if (v.pause && v.resume) throw new ApiError(0, 'usage', '--pause and --resume contradict each other');
  const body: Record<string, unknown> = {};
  if (v.every !== undefined) {
    const minutes = parseEvery(v.every);
    if (minutes === undefined) throw new ApiError(0, 'usage', `--every takes minutes (90, 90m), hours (2h) or days (1d), not ${JSON.stringify(v.every)}`);
    body.intervalMinutes = minutes;
  }
  if (v.keep !== undefined) body.keep = v.keep;
  if (v.pause) body.enabled = false;
  if (v.resume) body.enabled = true;
  return Object.keys(body).length > 0 ? body : undefined;
}

async function scheduleCommand(c: CliConfig, id: string, v: Flags): Promise<void> {
  const path = `/api/v1/disks/${encodeURIComponent(id)}/snapshot-schedule`;
  if (v.off) {
    if (v.every !== undefined || v.keep !== undefined || v.pause || v.resume) throw new ApiError(0, 'usage', '--off takes no other option');
    await call(c, 'DELETE', path);
    return out(`disk ${id} has no snapshot schedule any more (its automatic snapshots stay)`);
  }
  const body = scheduleBody(v);
  if (body) {
    const r = await call<{ schedule: SnapshotScheduleView }>(c, 'PUT', path, body);
    return v.json ? out(JSON.stringify(r.schedule, null, 2)) : out(`disk ${id}: snapshots ${scheduleText(r.schedule)}`);
  }
  const r = await call<SnapshotScheduleState>(c, 'GET', path);
  if (v.json) return out(JSON.stringify(r, null, 2));
  if (!r.schedule) return out(`disk ${id} has no snapshot schedule (set one: portway snapshot schedule ${id} --every 1h --keep 24)`);
  out(`disk ${id}: snapshots ${scheduleText(r.schedule)} (set by ${r.schedule.createdBy || '?'} at ${r.schedule.updatedAt})`);
  out(`next run: ${r.nextRunAt ?? '-'}${r.runBy ? ` (run by ${r.runBy})` : ' (no API server runs the schedules right now)'}`);
  const l = r.lastRun;
  if (!l) return out('last run: none yet');
  out(
    l.ok
      ? `last run: ${l.at} took ${l.snapshot ?? '-'}${l.pruned.length ? `, deleted ${l.pruned.join(' ')}` : ''}`
      : `last run: ${l.at} FAILED: ${l.message ?? ''} (${l.code ?? 'error'})`,
  );
}
