/** Ceph's health report and etcd members as problems (src/domain/infra-health.ts), and their events. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type HealthSnapshot, healthEvents } from '../../src/domain/health.js';
import { CEPH_SUBJECT, cephProblem, etcdProblems, parseCephHealth } from '../../src/domain/infra-health.js';

const WARN = JSON.stringify({
  status: 'HEALTH_WARN',
  checks: {
    OSDMAP_FLAGS: { severity: 'HEALTH_WARN', summary: { message: 'noout flag(s) set', count: 1 }, muted: false },
    MON_CLOCK_SKEW: { severity: 'HEALTH_WARN', summary: { message: 'clock skew', count: 1 }, muted: true },
    AUTH_INSECURE_GLOBAL_ID_RECLAIM: { severity: 'HEALTH_WARN', summary: { message: 'insecure', count: 1 }, muted: false },
  },
  mutes: [],
});

const snap = (problems: ReturnType<typeof etcdProblems>): HealthSnapshot => ({ live: new Set(), problems: new Map(problems.map((p) => [p.subject, p])) });

describe('infrastructure health', () => {
  it('parses ceph health: status, unmuted checks sorted by code', () => {
    assert.deepEqual(parseCephHealth(WARN), {
      status: 'HEALTH_WARN',
      checks: [
        { code: 'AUTH_INSECURE_GLOBAL_ID_RECLAIM', severity: 'HEALTH_WARN', summary: 'insecure' },
        { code: 'OSDMAP_FLAGS', severity: 'HEALTH_WARN', summary: 'noout flag(s) set' },
      ],
    });
    assert.deepEqual(parseCephHealth('{"status":"HEALTH_OK","checks":{},"mutes":[]}'), { status: 'HEALTH_OK', checks: [] });
    for (const bad of ['', 'HEALTH_OK', '{}', '{"status":"fine"}', '[]', 'null']) assert.equal(parseCephHealth(bad), undefined, bad);
  });

  it('a Ceph problem: none when OK, a warning for WARN, critical for ERR or no answer; the message names the codes only', () => {
    assert.equal(cephProblem({ status: 'HEALTH_OK', checks: [] }), undefined);
    assert.deepEqual(cephProblem(parseCephHealth(WARN)), {
      kind: 'ceph_unhealthy',
      severity: 'warning',
      subject: CEPH_SUBJECT,
      message: 'Ceph health is HEALTH_WARN: AUTH_INSECURE_GLOBAL_ID_RECLAIM, OSDMAP_FLAGS.',
    });
    assert.equal(cephProblem({ status: 'HEALTH_ERR', checks: [] })?.severity, 'critical');
    assert.equal(cephProblem(undefined)?.severity, 'critical');
  });

  it('an etcd problem per member that did not answer', () => {
    const ps = etcdProblems([
      { endpoint: 'http://127.0.0.1:2379', ok: true },
      { endpoint: 'http://127.0.0.1:2381', ok: false },
    ]);
    assert.deepEqual(
      ps.map((p) => [p.kind, p.severity, p.subject]),
      [['etcd_member_down', 'warning', 'etcd:http://127.0.0.1:2381']],
    );
  });

  it('raised once, cleared once (etcd_member_up, ceph_ok)', () => {
    const down = etcdProblems([{ endpoint: 'e1', ok: false }]);
    const ceph = cephProblem({ status: 'HEALTH_WARN', checks: [{ code: 'OSDMAP_FLAGS', severity: 'HEALTH_WARN', summary: '' }] });
    assert.ok(ceph);
    const a = snap([]);
    const b = snap([...down, ceph]);
    assert.deepEqual(
      healthEvents(a, b).map((e) => e.kind),
      ['etcd_member_down', 'ceph_unhealthy'],
    );
    assert.deepEqual(healthEvents(b, snap([...down, ceph])), []);
    const cleared = healthEvents(b, a);
    assert.deepEqual(
      cleared.map((e) => [e.kind, e.clears, e.severity]),
      [
        ['etcd_member_up', 'etcd_member_down', 'info'],
        ['ceph_ok', 'ceph_unhealthy', 'info'],
      ],
    );
  });
});
