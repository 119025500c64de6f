/**
 * Snapshot schedules of a disk (docs/OPERATIONS.md "Snapshot schedules"): every `intervalMinutes` the
 * scheduler (services/snapshot-scheduler.ts, one API server at a time) takes a snapshot named
 * `auto-YYYYMMDD-HHMMSS` (UTC) and deletes the oldest automatic ones beyond `keep`. Manual snapshots
 * never start with `auto-` (the prefix is reserved) and are never pruned. Pure.
 */
import { type Failure, fail } from './outcomes.js';

export const INTERVAL_MIN_MINUTES = 5;
/** One week. */
export const INTERVAL_MAX_MINUTES = 10_080;
export const KEEP_MIN = 1;
export const KEEP_MAX = 500;
/** What a new schedule keeps when the request does not say. */
export const DEFAULT_KEEP = 24;
/** Names of automatic snapshots start with this; manual ones may not. */
export const AUTO_PREFIX = 'auto-';
const AUTO_NAME = /^auto-(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})$/;

/** A disk's schedule as stored (`snapshot-schedules/<id>`). */
export interface SnapshotSchedule {
  /** Schema version: set only on a record read at a newer version than this code's (src/domain/records.ts). */
  v?: number;
  intervalMinutes: number;
  keep: number;
  /** false: kept but paused (nothing is taken or pruned). */
  enabled: boolean;
  /** Who set it last (a username, or `cli`/`system`). */
  createdBy: string;
  updatedAt: string;
}

/** The scheduler's last run for a disk (`snapshot-runs/<id>`): what the web page shows as the last result. */
export interface ScheduleRun {
  v?: number;
  at: string;
  ok: boolean;
  /** The snapshot taken (ok) or attempted. */
  snapshot?: string;
  /** A failure's code and message. */
  code?: string;
  message?: string;
  /** Automatic snapshots deleted by retention in this run. */
  pruned: string[];
}

/** A schedule change as the API takes it: absent fields keep the current values. */
export interface ScheduleRequest {
  intervalMinutes?: unknown;
  keep?: unknown;
  enabled?: unknown;
}

function intIn(v: unknown, lo: number, hi: number): number | undefined {
  const n = typeof v === 'string' && /^\d{1,7}$/.test(v.trim()) ? Number(v.trim()) : v;
  return typeof n === 'number' && Number.isInteger(n) && n >= lo && n <= hi ? n : undefined;
}

/**
 * The schedule a request sets, on top of the current one (absent: a new schedule, which needs
 * intervalMinutes; keep defaults to DEFAULT_KEEP). invalid_snapshot_schedule names the field at fault.
 */
export function parseSchedule(
  req: ScheduleRequest,
  current: SnapshotSchedule | undefined,
  who: string,
  now: Date,
): { ok: true; schedule: SnapshotSchedule } | Failure {
  const interval = req.intervalMinutes ?? current?.intervalMinutes;
  if (interval === undefined || interval === null || interval === '')
    return fail('data_missing', 'Say how often to take a snapshot (intervalMinutes, e.g. 60 for hourly).', 'intervalMinutes');
  const intervalMinutes = intIn(interval, INTERVAL_MIN_MINUTES, INTERVAL_MAX_MINUTES);
  if (intervalMinutes === undefined)
    return fail(
      'invalid_snapshot_schedule',
      `The interval is a whole number of minutes from ${INTERVAL_MIN_MINUTES} to ${INTERVAL_MAX_MINUTES} (one week).`,
      'intervalMinutes',
    );
  const keepRaw = req.keep ?? current?.keep ?? DEFAULT_KEEP;
  const keep = intIn(keepRaw, KEEP_MIN, KEEP_MAX);
  if (keep === undefined)
    return fail('invalid_snapshot_schedule', `keep is how many automatic snapshots to keep: a whole number from ${KEEP_MIN} to ${KEEP_MAX}.`, 'keep');
  const enabled = req.enabled ?? current?.enabled ?? true;
  if (typeof enabled !== 'boolean') return fail('invalid_snapshot_schedule', 'enabled is true or false.', 'enabled');
  return { ok: true, schedule: { intervalMinutes, keep, enabled, createdBy: who.slice(0, 64), updatedAt: now.toISOString() } };
}

/** A stored schedule (parsed, migrated JSON), or undefined when it is not one. */
export function asSchedule(v: unknown): SnapshotSchedule | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const r = v as Record<string, unknown>;
  const intervalMinutes = intIn(r.intervalMinutes, INTERVAL_MIN_MINUTES, INTERVAL_MAX_MINUTES);
  const keep = intIn(r.keep, KEEP_MIN, KEEP_MAX);
  if (intervalMinutes === undefined || keep === undefined) return undefined;
  return {
    ...(typeof r.v === 'number' ? { v: r.v } : {}),
    intervalMinutes,
    keep,
    enabled: r.enabled !== false,
    createdBy: typeof r.createdBy === 'string' ? r.createdBy : '',
    updatedAt: typeof r.updatedAt === 'string' ? r.updatedAt : '',
  };
}

/** A stored run record, or undefined when it is not one. */
export function asRun(v: unknown): ScheduleRun | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const r = v as Record<string, unknown>;
  if (typeof r.at !== 'string' || Number.isNaN(Date.parse(r.at)) || typeof r.ok !== 'boolean') return undefined;
  return {
    at: r.at,
    ok: r.ok,
    ...(typeof r.snapshot === 'string' ? { snapshot: r.snapshot } : {}),
    ...(typeof r.code === 'string' ? { code: r.code } : {}),
    ...(typeof r.message === 'string' ? { message: r.message } : {}),
    pruned: Array.isArray(r.pruned) ? r.pruned.filter((x): x is string => typeof x === 'string') : [],
  };
}

/**
 * `--every` of the CLI: `90` or `90m` minutes, `2h` hours, `1d` days, as minutes; undefined when it is
 * none of these (the range is the server's to check).
 */
export function parseEvery(s: string): number | undefined {
  const m = /^(\d{1,6})\s*(m|min|h|d)?$/i.exec(s.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = (m[2] ?? 'm').toLowerCase();
  return unit === 'h' ? n * 60 : unit === 'd' ? n * 1440 : n;
}

/** The interval in words: `every 60 min` reads `hourly`. */
export function everyText(minutes: number): string {
  if (minutes === 60) return 'hourly';
  if (minutes === 1440) return 'daily';
  if (minutes % 1440 === 0) return `every ${minutes / 1440} days`;
  if (minutes % 60 === 0) return `every ${minutes / 60} hours`;
  return `every ${minutes} min`;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** The name of an automatic snapshot taken at `at`: `auto-YYYYMMDD-HHMMSS`, UTC. */
export function autoSnapshotName(at: Date): string {
  return `${AUTO_PREFIX}${pad(at.getUTCFullYear(), 4)}${pad(at.getUTCMonth() + 1)}${pad(at.getUTCDate())}-${pad(at.getUTCHours())}${pad(at.getUTCMinutes())}${pad(at.getUTCSeconds())}`;
}

/** When an automatic snapshot's name says it was taken (ms since the epoch); undefined: not an automatic name. */
export function autoSnapshotTime(name: string): number | undefined {
  const m = AUTO_NAME.exec(name);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const t = Date.UTC(y, mo - 1, d, h, mi, s);
  return Number.isNaN(t) ? undefined : t;
}

export function isAutoSnapshot(name: string): boolean {
  return autoSnapshotTime(name) !== undefined;
}

/** A manual snapshot name in the reserved namespace: the failure to answer (field `name`). */
export function reservedName(name: string, field = 'name'): Failure | undefined {
  return name.toLowerCase().startsWith(AUTO_PREFIX)
    ? fail('snapshot_name_reserved', `Snapshot names starting with "${AUTO_PREFIX}" are reserved for the disk's snapshot schedule; choose another name.`, field)
    : undefined;
}

/** The last automatic snapshot's time (ms), from a list of snapshots; undefined: none. */
export function lastAutoTime(snaps: readonly { name: string }[]): number | undefined {
  let last: number | undefined;
  for (const s of snaps) {
    const t = autoSnapshotTime(s.name);
    if (t !== undefined && (last === undefined || t > last)) last = t;
  }
  return last;
}

/**
 * When the next snapshot is due (ms): one interval after the last run (taken or failed: a failure is
 * tried again one interval later, not at every tick); no run yet: now. undefined: paused.
 */
export function nextRun(s: SnapshotSchedule, last: number | undefined, now: number): number | undefined {
  if (!s.enabled) return undefined;
  return last === undefined ? now : last + s.intervalMinutes * 60_000;
}

/** Whether a snapshot is due now. */
export function due(s: SnapshotSchedule, last: number | undefined, now: number): boolean {
  const next = nextRun(s, last, now);
  return next !== undefined && next <= now;
}

/**
 * The automatic snapshots retention deletes: those beyond the newest `keep` automatic ones, oldest
 * first. Manual snapshots are never counted nor deleted; an automatic one that clones depend on (its
 * deletion would be refused) is skipped (it stays, over the count, until its clones are flattened); the
 * newest `keep` are never deleted; one still being copied is left alone.
 */
export function toPrune<S extends { name: string; clones: readonly string[]; progressPct?: number }>(snaps: readonly S[], keep: number): S[] {
  const auto = snaps
    .filter((s) => isAutoSnapshot(s.name) && s.progressPct === undefined)
    .sort((a, b) => (autoSnapshotTime(a.name) as number) - (autoSnapshotTime(b.name) as number));
  const excess = auto.length - Math.max(0, keep);
  if (excess <= 0) return [];
  return auto.slice(0, excess).filter((s) => s.clones.length === 0);
}

/** When the schedule last ran for the disk (ms): its last run record, else its newest automatic snapshot. */
export function lastRunTime(run: ScheduleRun | undefined, snaps: readonly { name: string }[] | undefined): number | undefined {
  const auto = snaps ? lastAutoTime(snaps) : undefined;
  const at = run ? Date.parse(run.at) : undefined;
  if (at === undefined || Number.isNaN(at)) return auto;
  return auto === undefined ? at : Math.max(at, auto);
}
