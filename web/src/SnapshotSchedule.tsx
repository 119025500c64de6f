/**
 * A disk's snapshot schedule (the "Snapshot schedule" card of the snapshots section): how often, how
 * many automatic snapshots are kept, the next run, the last result and the server that runs it; set,
 * pause/resume and delete for users with ManageSnapshots.
 */
import { useCallback, useEffect, useId, useState } from 'react';
import { everyText } from '../../src/domain/snapshot-schedule';
import { type ApiErrorBody, type SnapshotScheduleState, deleteSnapshotSchedule, getSnapshotSchedule, setSnapshotSchedule } from './api';
import { FieldError } from './Field';
import { formatDate } from './format';
import { useNotify } from './notify';
import { usePermissions } from './session';

const REFRESH_MS = 15_000;

const UNITS = [
  { label: 'minutes', minutes: 1 },
  { label: 'hours', minutes: 60 },
  { label: 'days', minutes: 1440 },
] as const;

function split(minutes: number): { count: string; unit: number } {
  const unit = minutes % 1440 === 0 ? 1440 : minutes % 60 === 0 ? 60 : 1;
  return { count: String(minutes / unit), unit };
}

export function SnapshotSchedule({ diskId, onRun }: { diskId: string; onRun?: () => void }) {
  const { can } = usePermissions();
  const canManage = can('ManageSnapshots');
  const notify = useNotify();
  const everyId = useId();
  const keepId = useId();
  const [state, setState] = useState<SnapshotScheduleState | undefined>(undefined);
  const [error, setError] = useState<ApiErrorBody | undefined>(undefined);
  const [editing, setEditing] = useState(false);
  const [count, setCount] = useState('1');
  const [unit, setUnit] = useState(60);
  const [keep, setKeep] = useState('24');
  const [formError, setFormError] = useState<{ field?: string; message: string } | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  const lastAt = state?.lastRun?.at;

  useEffect(() => {
    const t = setInterval(reload, REFRESH_MS);
    return () => clearInterval(t);
  }, [reload]);
  // biome-ignore lint/correctness/useExhaustiveDependencies: tick is a refetch trigger
  useEffect(() => {
    let cancelled = false;
    void getSnapshotSchedule(diskId).then((r) => {
      if (cancelled) return;
      if (r.ok) {
        setState(r.value);
        setError(undefined);
      } else setError(r.error);
    });
    return () => {
      cancelled = true;
    };
  }, [diskId, tick]);
  // A new run took or deleted snapshots: the list above shows them.
  // biome-ignore lint/correctness/useExhaustiveDependencies: only a new run matters
  useEffect(() => {
    if (lastAt) onRun?.();
  }, [lastAt]);

  function edit(): void {
    const s = state?.schedule;
    const e = split(s?.intervalMinutes ?? 60);
    setCount(e.count);
    setUnit(e.unit);
    setKeep(String(s?.keep ?? 24));
    setFormError(undefined);
    setEditing(true);
  }

  async function save(): Promise<void> {
    const n = Number(count);
    if (!/^\d+$/.test(count.trim()) || n < 1) {
      setFormError({ field: 'intervalMinutes', message: 'Give a whole number.' });
      return;
    }
    setBusy(true);
    const r = await setSnapshotSchedule(diskId, { intervalMinutes: n * unit, keep: keep.trim(), enabled: true });
    setBusy(false);
    if (!r.ok) {
      const field = typeof r.error.details.field === 'string' ? r.error.details.field : undefined;
      setFormError({ ...(field ? { field } : {}), message: r.error.message });
      return;
    }
    notify(`Disk ${diskId}: a snapshot ${everyText(r.value.intervalMinutes)}, ${r.value.keep} kept.`);
    setEditing(false);
    reload();
  }

  async function pause(enabled: boolean): Promise<void> {
    setBusy(true);
    const r = await setSnapshotSchedule(diskId, { enabled });
    setBusy(false);
    if (r.ok) notify(enabled ? `Snapshot schedule of disk ${diskId} resumed.` : `Snapshot schedule of disk ${diskId} paused.`);
    else setFormError({ message: r.error.message });
    reload();
  }

  async function remove(): Promise<void> {
    setBusy(true);
    const r = await deleteSnapshotSchedule(diskId);
    setBusy(false);
    if (r.ok) notify(`Snapshot schedule of disk ${diskId} deleted; its snapshots stay.`);
    else setFormError({ message: r.error.message });
    reload();
  }

  const s = state?.schedule;
  const last = state?.lastRun;
  return (
    <div className="snapshot-schedule" data-testid="snapshot-schedule">
      <h3 className="snapshot-schedule-title">Snapshot schedule</h3>
      {error ? (
        <p className="alert alert-error" role="alert" data-testid="schedule-error">
          Cannot load the schedule: {error.message}
        </p>
      ) : null}
      {state && !s ? (
        <p className="muted" data-testid="schedule-none">
          No schedule: snapshots are taken by hand only.
        </p>
      ) : null}
      {s ? (
        <dl className="props" data-testid="schedule-props">
          <div>
            <dt>Every</dt>
            <dd data-testid="schedule-every">
              {everyText(s.intervalMinutes)}
              {s.enabled ? null : <strong data-testid="schedule-paused"> (paused)</strong>}
            </dd>
          </div>
          <div>
            <dt>Keeps</dt>
            <dd data-testid="schedule-keep">{s.keep} automatic snapshots (auto-…); manual ones are never deleted</dd>
          </div>
          <div>
            <dt>Next run</dt>
            <dd data-testid="schedule-next">
              {state?.nextRunAt ? (
                Date.parse(state.nextRunAt) <= Date.now() ? (
                  'due now'
                ) : (
                  <time dateTime={state.nextRunAt}>{formatDate(state.nextRunAt)}</time>
                )
              ) : (
                '—'
              )}
              {state?.runBy ? <span className="muted"> (run by {state.runBy})</span> : <span className="muted"> (no server runs schedules right now)</span>}
            </dd>
          </div>
          <div>
            <dt>Last result</dt>
            <dd data-testid="schedule-last">
              {!last ? (
                'none yet'
              ) : last.ok ? (
                <>
                  <time dateTime={last.at}>{formatDate(last.at)}</time>: took <span className="mono">{last.snapshot}</span>
                  {last.pruned.length ? <>, deleted {last.pruned.join(', ')}</> : null}
                </>
              ) : (
                <span className="field-error" data-testid="schedule-last-failed">
                  <time dateTime={last.at}>{formatDate(last.at)}</time>: failed: {last.message} ({last.code})
                </span>
              )}
            </dd>
          </div>
        </dl>
      ) : null}
      {canManage && state && !editing ? (
        <div className="button-row">
          <button type="button" className="button button-small" onClick={edit} disabled={busy} data-testid="schedule-edit">
            {s ? 'Edit schedule' : 'Set a schedule'}
          </button>
          {s ? (
            <button type="button" className="button button-small" onClick={() => void pause(!s.enabled)} disabled={busy} data-testid="schedule-pause">
              {s.enabled ? 'Pause' : 'Resume'}
            </button>
          ) : null}
          {s ? (
            <button
              type="button"
              className="button button-small button-danger-outline"
              onClick={() => void remove()}
              disabled={busy}
              data-testid="schedule-delete"
            >
              Delete schedule
            </button>
          ) : null}
        </div>
      ) : null}
      {canManage && editing ? (
        <form
          className="inline-controls"
          onSubmit={(e) => {
            e.preventDefault();
            if (!busy) void save();
          }}
          noValidate
          data-testid="schedule-form"
        >
          <label htmlFor={everyId}>A snapshot every</label>
          <input
            id={everyId}
            className="input input-narrow"
            inputMode="numeric"
            value={count}
            onChange={(e) => setCount(e.target.value)}
            aria-describedby={formError?.field === 'intervalMinutes' ? `${everyId}-err` : undefined}
            data-testid="schedule-every-input"
          />
          <select className="input" value={unit} onChange={(e) => setUnit(Number(e.target.value))} aria-label="unit" data-testid="schedule-unit">
            {UNITS.map((u) => (
              <option key={u.minutes} value={u.minutes}>
                {u.label}
              </option>
            ))}
          </select>
          <label htmlFor={keepId}>keep</label>
          <input
            id={keepId}
            className="input input-narrow"
            inputMode="numeric"
            value={keep}
            onChange={(e) => setKeep(e.target.value)}
            aria-describedby={formError?.field === 'keep' ? `${keepId}-err` : undefined}
            data-testid="schedule-keep-input"
          />
          <button type="submit" className="button" disabled={busy} data-testid="schedule-save">
            Save
          </button>
          <button type="button" className="button button-small" onClick={() => setEditing(false)} data-testid="schedule-cancel">
            Cancel
          </button>
          <FieldError id={`${formError?.field === 'keep' ? keepId : everyId}-err`} error={formError?.message} testId="schedule-form-error" />
        </form>
      ) : null}
      {!editing && formError ? <FieldError id={`${everyId}-err`} error={formError.message} testId="schedule-form-error" /> : null}
    </div>
  );
}
