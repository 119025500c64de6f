/**
 * Snapshot schedules: the domain (parse, names, due, retention), the CLI's flags, the routes in process
 * (app.inject over the embedded stores and file images: codes, permission, audit, the reserved prefix,
 * the schedule deleted with its disk), and the scheduler over the embedded store (two instances, one
 * leads). With etcd and the real product: test/integration/snapshot-schedule.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { scheduleBody, scheduleText } from '../../src/cli/snapshot-command.js';
import { SNAPSHOT_SCHEDULER_LEADER, scheduleDiskId, snapshotScheduleKey } from '../../src/domain/keys.js';
import {
  type SnapshotSchedule,
  autoSnapshotName,
  autoSnapshotTime,
  due,
  everyText,
  lastRunTime,
  nextRun,
  parseEvery,
  parseSchedule,
  reservedName,
  toPrune,
} from '../../src/domain/snapshot-schedule.js';
import { readRecord } from '../../src/domain/records.js';
import { EVENTS, EventService } from '../../src/services/event-service.js';
import { SnapshotScheduler } from '../../src/services/snapshot-scheduler.js';
import { ADMIN_PW, type ApiApp, type Caller, startApiApp } from '../helpers/api-app.js';
import { waitFor } from '../helpers/wait.js';

const NOW = new Date('2026-03-04T05:06:07.890Z');
const hourly: SnapshotSchedule = { intervalMinutes: 60, keep: 3, enabled: true, createdBy: 'admin', updatedAt: NOW.toISOString() };
const snap = (name: string, clones: string[] = [], progressPct?: number) => ({ name, clones, ...(progressPct === undefined ? {} : { progressPct }) });

describe('snapshot schedules (domain)', () => {
  it('parses a new schedule: interval needed, keep 24 by default, enabled', () => {
    const r = parseSchedule({ intervalMinutes: 60 }, undefined, 'admin', NOW);
    assert.ok(r.ok);
    assert.deepEqual(r.schedule, { intervalMinutes: 60, keep: 24, enabled: true, createdBy: 'admin', updatedAt: NOW.toISOString() });
    const missing = parseSchedule({ keep: 5 }, undefined, 'admin', NOW);
    assert.ok(!missing.ok);
    assert.equal(missing.code, 'data_missing');
    assert.equal(missing.field, 'intervalMinutes');
    const digits = parseSchedule({ intervalMinutes: '90', keep: '7' }, undefined, 'a', NOW);
    assert.ok(digits.ok);
    assert.equal(digits.schedule.intervalMinutes, 90);
    assert.equal(digits.schedule.keep, 7);
  });

  it('a change keeps the fields it does not name', () => {
    const r = parseSchedule({ enabled: false }, hourly, 'bob', NOW);
    assert.ok(r.ok);
    assert.deepEqual(r.schedule, { ...hourly, enabled: false, createdBy: 'bob' });
    const k = parseSchedule({ keep: 48 }, hourly, 'bob', NOW);
    assert.ok(k.ok);
    assert.equal(k.schedule.intervalMinutes, 60);
    assert.equal(k.schedule.keep, 48);
  });

  for (const [what, req, field] of [
    ['an interval under 5 minutes', { intervalMinutes: 4 }, 'intervalMinutes'],
    ['an interval over a week', { intervalMinutes: 10_081 }, 'intervalMinutes'],
    ['a fractional interval', { intervalMinutes: 7.5 }, 'intervalMinutes'],
    ['a word for an interval', { intervalMinutes: 'hourly' }, 'intervalMinutes'],
    ['keep 0', { intervalMinutes: 60, keep: 0 }, 'keep'],
    ['keep 501', { intervalMinutes: 60, keep: 501 }, 'keep'],
    ['keep negative', { intervalMinutes: 60, keep: -3 }, 'keep'],
    ['enabled as a string', { intervalMinutes: 60, enabled: 'yes' }, 'enabled'],
  ] as const) {
    it(`refuses ${what} with invalid_snapshot_schedule naming ${field}`, () => {
      const r = parseSchedule(req, undefined, 'admin', NOW);
      assert.ok(!r.ok);
      assert.equal(r.code, 'invalid_snapshot_schedule');
      assert.equal(r.field, field);
      assert.ok(r.message.length > 10);
    });
  }

  it('names automatic snapshots auto-YYYYMMDD-HHMMSS in UTC and reads the time back', () => {
    assert.equal(autoSnapshotName(NOW), 'auto-20260304-050607');
    assert.equal(autoSnapshotTime('auto-20260304-050607'), Date.parse('2026-03-04T05:06:07Z'));
    assert.equal(autoSnapshotTime('auto-nightly'), undefined);
    assert.equal(autoSnapshotTime('before-upgrade'), undefined);
  });

  it('reserves the auto- prefix for manual names (any case)', () => {
    assert.equal(reservedName('auto-20260101-000000')?.code, 'snapshot_name_reserved');
    assert.equal(reservedName('AUTO-mine')?.field, 'name');
    assert.equal(reservedName('autumn'), undefined);
    assert.equal(reservedName('before-auto-x'), undefined);
  });

  it('is due one interval after the last run (taken or failed), at once when none, never when paused', () => {
    const t = NOW.getTime();
    assert.equal(due(hourly, undefined, t), true);
    assert.equal(due(hourly, t - 59 * 60_000, t), false);
    assert.equal(due(hourly, t - 60 * 60_000, t), true);
    assert.equal(nextRun(hourly, t - 10 * 60_000, t), t + 50 * 60_000);
    assert.equal(due({ ...hourly, enabled: false }, undefined, t), false);
    assert.equal(nextRun({ ...hourly, enabled: false }, t, t), undefined);
  });

  it('the last run is the later of the run record and the newest automatic snapshot', () => {
    const run = { at: '2026-03-04T04:00:00.000Z', ok: false, pruned: [] };
    assert.equal(lastRunTime(run, undefined), Date.parse(run.at));
    assert.equal(lastRunTime(undefined, [snap('auto-20260304-030000'), snap('manual'), snap('auto-20260304-020000')]), Date.parse('2026-03-04T03:00:00Z'));
    assert.equal(lastRunTime(run, [snap('auto-20260304-045000')]), Date.parse('2026-03-04T04:50:00Z'));
    assert.equal(lastRunTime(undefined, [snap('manual')]), undefined);
  });

  it('prunes the oldest automatic snapshots beyond keep; never manual ones, ones with clones, or the newest keep', () => {
    const list = [
      snap('auto-20260101-000000'),
      snap('before-upgrade'),
      snap('auto-20260101-020000'),
      snap('auto-20260101-010000', ['00007']),
      snap('auto-20260101-030000'),
      snap('auto-20260101-040000'),
      snap('auto-20260101-050000', [], 40),
    ];
    // five finished automatic ones, keep 2: the three oldest go, but 01:00 has a clone and stays
    assert.deepEqual(
      toPrune(list, 2).map((s) => s.name),
      ['auto-20260101-000000', 'auto-20260101-020000'],
    );
    assert.deepEqual(toPrune(list, 5), []);
    assert.deepEqual(
      toPrune(list, 1).map((s) => s.name),
      ['auto-20260101-000000', 'auto-20260101-020000', 'auto-20260101-030000'],
    );
    // everything old has clones: nothing to delete, and the newest are never taken instead
    assert.deepEqual(toPrune([snap('auto-20260101-000000', ['x']), snap('auto-20260101-010000', ['y']), snap('auto-20260101-020000')], 1), []);
  });

  it('the CLI reads --every in minutes, hours and days and says the interval in words', () => {
    assert.equal(parseEvery('60m'), 60);
    assert.equal(parseEvery('90'), 90);
    assert.equal(parseEvery('1h'), 60);
    assert.equal(parseEvery('1d'), 1440);
    assert.equal(parseEvery('2H'), 120);
    assert.equal(parseEvery('hourly'), undefined);
    assert.equal(parseEvery('-5m'), undefined);
    assert.equal(everyText(60), 'hourly');
    assert.equal(everyText(1440), 'daily');
    assert.equal(everyText(360), 'every 6 hours');
    assert.equal(everyText(15), 'every 15 min');
    assert.deepEqual(scheduleBody({ every: '1h', keep: '24' }), { intervalMinutes: 60, keep: '24' });
    assert.deepEqual(scheduleBody({ pause: true }), { enabled: false });
    assert.equal(scheduleBody({}), undefined);
    assert.throws(() => scheduleBody({ every: 'often' }), /--every takes/);
    assert.throws(() => scheduleBody({ pause: true, resume: true }), /contradict/);
    assert.equal(scheduleText({ ...hourly, enabled: false }), 'hourly, keep 3 (paused)');
  });

  it('keys: one per disk, parsed back only for disk ids', () => {
    assert.equal(snapshotScheduleKey('00012'), '/portway/snapshot-schedules/00012');
    assert.equal(scheduleDiskId('/portway/snapshot-schedules/00012'), '00012');
    assert.equal(scheduleDiskId('/portway/snapshot-runs/00012'), '00012');
    assert.equal(scheduleDiskId('/portway/snapshot-schedules/x/y'), undefined);
  });
});

const body = (name: string) => ({ name, sizeGb: 1, activePaths: 1, subnet: 1, ipMode: 'auto', acl: { mode: 'all' }, auth: { mode: 'none' } });

describe('snapshot schedule routes (app.inject, file images)', () => {
  let a: ApiApp;
  let admin: Caller;
  let viewer: Caller;
  let operator: Caller;
  let id: string;

  before(async () => {
    a = await startApiApp();
    admin = await a.login('admin', ADMIN_PW);
    viewer = await a.userWithRole('vic', 'viewer');
    operator = await a.userWithRole('ops', 'operator');
    const r = await admin('POST', '/api/v1/disks', body('scheddisk'));
    assert.equal(r.status, 201, r.body);
    id = r.json.disk.id;
  });
  after(async () => {
    await a?.close();
  });

  const url = () => `/api/v1/disks/${id}/snapshot-schedule`;

  it('shows no schedule at first; an unknown disk is disk_not_found', async () => {
    let r = await viewer('GET', url());
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(r.json, { schedule: null, nextRunAt: null, lastRun: null, runBy: null });
    r = await viewer('GET', '/api/v1/disks/00099/snapshot-schedule');
    assert.equal(r.status, 404);
    assert.equal(r.json.code, 'disk_not_found');
    r = await admin('PUT', '/api/v1/disks/00099/snapshot-schedule', { intervalMinutes: 60 });
    assert.equal(r.status, 404);
    assert.equal(r.json.code, 'disk_not_found');
    r = await admin('DELETE', url());
    assert.equal(r.status, 404);
    assert.equal(r.json.code, 'snapshot_schedule_not_found');
  });

  it('refuses bad values with 400 and the field, a viewer with 403, an unknown field', async () => {
    let r = await admin('PUT', url(), { intervalMinutes: 1 });
    assert.equal(r.status, 400);
    assert.equal(r.json.code, 'invalid_snapshot_schedule');
    assert.equal(r.json.details.field, 'intervalMinutes');
    r = await admin('PUT', url(), { intervalMinutes: 60, keep: 1000 });
    assert.equal(r.status, 400);
    assert.equal(r.json.details.field, 'keep');
    r = await admin('PUT', url(), {});
    assert.equal(r.status, 400);
    assert.equal(r.json.code, 'data_missing');
    assert.equal(r.json.details.field, 'intervalMinutes');
    r = await admin('PUT', url(), { intervalMinutes: 60, every: 5 });
    assert.equal(r.status, 400);
    assert.equal(r.json.code, 'invalid_request');
    r = await viewer('PUT', url(), { intervalMinutes: 60 });
    assert.equal(r.status, 403);
    assert.equal(r.json.details.permission, 'ManageSnapshots');
    r = await viewer('DELETE', url());
    assert.equal(r.status, 403);
  });

  it('sets, shows with the next run, changes, pauses and deletes; each audited by meaning', async () => {
    let r = await operator('PUT', url(), { intervalMinutes: 60, keep: 24 });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json.schedule.intervalMinutes, 60);
    assert.equal(r.json.schedule.keep, 24);
    assert.equal(r.json.schedule.enabled, true);
    assert.equal(r.json.schedule.createdBy, 'ops');
    r = await viewer('GET', url());
    assert.equal(r.status, 200);
    assert.equal(r.json.schedule.intervalMinutes, 60);
    assert.ok(Math.abs(Date.parse(r.json.nextRunAt) - Date.now()) < 60_000, 'no run yet: due at once');
    assert.equal(r.json.lastRun, null);
    r = await admin('PUT', url(), { keep: '48' });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json.schedule.keep, 48);
    assert.equal(r.json.schedule.intervalMinutes, 60);
    r = await admin('PUT', url(), { enabled: false });
    assert.equal(r.json.schedule.enabled, false);
    assert.equal((await viewer('GET', url())).json.nextRunAt, null);

    const audit = (await admin('GET', '/api/v1/audit?limit=50')).json.entries as {
      action: string;
      actor: string;
      outcome: string;
      target: string;
      details: Record<string, any>;
    }[];
    const sets = audit.filter((e) => e.action === 'snapshot.schedule.set');
    const created = sets.find((e) => e.details.created === true);
    assert.ok(created, JSON.stringify(sets));
    assert.equal(created.actor, 'ops');
    assert.equal(created.target, `disk:${id}`);
    assert.equal(created.details.intervalMinutes, 60);
    assert.ok(sets.some((e) => e.outcome === 'ok' && JSON.stringify(e.details.changes) === JSON.stringify({ keep: { from: 24, to: 48 } })));
    assert.ok(sets.some((e) => e.outcome === 'failed' && e.details.code === 'invalid_snapshot_schedule'));

    r = await admin('DELETE', url());
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json.schedule.keep, 48);
    assert.equal((await viewer('GET', url())).json.schedule, null);
    const after = (await admin('GET', '/api/v1/audit?limit=5')).json.entries as { action: string; outcome: string }[];
    assert.ok(after.some((e) => e.action === 'snapshot.schedule.delete' && e.outcome === 'ok'));
  });

  it('refuses a manual snapshot named auto-... (the schedule reserves it)', async () => {
    const r = await admin('POST', `/api/v1/disks/${id}/snapshots`, { name: 'auto-20260101-000000' });
    assert.equal(r.status, 400);
    assert.equal(r.json.code, 'snapshot_name_reserved');
    assert.equal(r.json.details.field, 'name');
  });

  it('the documentation lists the routes with their permission', async () => {
    const doc = (await a.anonymous('GET', '/api/docs/json')).json;
    const p = doc.paths['/api/v1/disks/{id}/snapshot-schedule'];
    assert.ok(p?.get && p.put && p.delete);
    assert.equal(p.put['x-permission'], 'ManageSnapshots');
  });

  it('a deleted disk takes its schedule with it', async () => {
    const d = (await admin('POST', '/api/v1/disks', body('gone-soon'))).json.disk.id as string;
    assert.equal((await admin('PUT', `/api/v1/disks/${d}/snapshot-schedule`, { intervalMinutes: 30 })).status, 200);
    assert.ok(await a.store.get(snapshotScheduleKey(d)));
    assert.equal((await admin('POST', `/api/v1/disks/${d}/stop`)).status, 200);
    const del = await admin('DELETE', `/api/v1/disks/${d}`);
    assert.equal(del.status, 200, del.body);
    assert.equal(await a.store.get(snapshotScheduleKey(d)), undefined);
  });
});

describe('snapshot scheduler (embedded store, file images)', () => {
  let a: ApiApp;
  let admin: Caller;
  const log = pino({ level: 'silent' });
  let skew = 0;
  const now = () => Date.now() + skew;

  before(async () => {
    a = await startApiApp();
    admin = await a.login('admin', ADMIN_PW);
  });
  after(async () => {
    await a?.close();
  });

  it('one of two schedulers leads; it takes, prunes to keep, audits; a failure is an event', async () => {
    const d = (await admin('POST', '/api/v1/disks', body('sched-embedded'))).json.disk.id as string;
    assert.equal((await admin('POST', `/api/v1/disks/${d}/stop`)).status, 200); // a full copy needs it stopped on ext4
    assert.equal((await admin('POST', `/api/v1/disks/${d}/snapshots`, { name: 'manual-one' })).status, 201);
    assert.equal((await admin('PUT', `/api/v1/disks/${d}/snapshot-schedule`, { intervalMinutes: 5, keep: 2 })).status, 200);
    const events = new EventService({ store: a.store, log });
    await events.start();
    const mk = (node: string) =>
      new SnapshotScheduler({
        store: a.store,
        snapshots: a.disks.snapshots,
        node,
        log,
        audit: a.auth.appendAudit,
        events,
        tickMs: 100,
        leaseTtlSeconds: 5,
        now,
      });
    const s1 = mk('node-a');
    const s2 = mk('node-b');
    try {
      s1.start();
      s2.start();
      const leaderNode = async () => {
        const kv = await a.store.get(SNAPSHOT_SCHEDULER_LEADER);
        return kv ? (readRecord('leader', kv.value)?.node as string | undefined) : undefined;
      };
      const first = await waitFor(leaderNode, { what: 'a leader', timeoutMs: 5000 });
      const [leader, other] = first === 'node-a' ? [s1, s2] : [s2, s1];
      assert.equal(other.isLeader, false, 'one leads');
      const autos = async () =>
        ((await a.disks.snapshots.list(d)) as { snapshots: { name: string }[] }).snapshots.map((s) => s.name).filter((n) => n.startsWith('auto-'));
      await waitFor(async () => ((await autos()).length === 1 ? true : undefined), { what: 'the first automatic snapshot', timeoutMs: 10_000 });
      for (let i = 0; i < 3; i++) {
        const before = (await autos()).at(-1);
        skew += 5 * 60_000;
        await waitFor(async () => ((await autos()).at(-1) !== before ? true : undefined), { what: `automatic snapshot ${i + 2}`, timeoutMs: 10_000 });
      }
      await waitFor(async () => ((await autos()).length === 2 ? true : undefined), { what: 'pruned to keep 2', timeoutMs: 10_000 });
      const names = ((await a.disks.snapshots.list(d)) as { snapshots: { name: string }[] }).snapshots.map((s) => s.name);
      assert.ok(names.includes('manual-one'), 'manual snapshots are never pruned');
      const state = (await admin('GET', `/api/v1/disks/${d}/snapshot-schedule`)).json;
      assert.equal(state.lastRun.ok, true);
      assert.equal(state.runBy, first);
      const audit = (await admin('GET', '/api/v1/audit?limit=100')).json.entries as { action: string; actor: string; outcome: string; details: any }[];
      assert.ok(audit.filter((e) => e.actor === 'scheduler' && e.action === 'snapshot.create' && e.outcome === 'ok').length >= 4);
      assert.ok(audit.some((e) => e.actor === 'scheduler' && e.action === 'snapshot.delete' && /retention/.test(e.details.reason)));

      // started again: a full copy is refused (snapshot_needs_stop) -> the run fails, an event says so
      assert.equal((await admin('POST', `/api/v1/disks/${d}/start`)).status, 200);
      const mode = (await admin('GET', `/api/v1/disks/${d}/snapshots`)).json.mode;
      if (mode === 'copy') {
        skew += 5 * 60_000;
        await waitFor(async () => ((await a.store.list(EVENTS)).some((kv) => kv.value.includes('snapshot_failed')) ? true : undefined), {
          what: 'snapshot_failed event',
          timeoutMs: 10_000,
        });
        const st = (await admin('GET', `/api/v1/disks/${d}/snapshot-schedule`)).json;
        assert.equal(st.lastRun.ok, false);
        assert.equal(st.lastRun.code, 'snapshot_needs_stop');
        assert.ok(events.list().some((e) => e.kind === 'snapshot_failed' && e.subject === `disk:${d}`));
      }

      // the leader stops: its lease is revoked, the other takes over
      await leader.stop();
      await waitFor(async () => ((await leaderNode()) === (first === 'node-a' ? 'node-b' : 'node-a') ? true : undefined), {
        what: 'the other scheduler leads',
        timeoutMs: 5000,
      });
      assert.equal(leader.isLeader, false);
    } finally {
      await s1.stop();
      await s2.stop();
      await events.close();
    }
  });
});
