/**
 * The health of what Portway runs on, as problems (domain/health.ts): Ceph's own health report (`ceph
 * health --format json`) and the etcd members that do not answer a status request. Pure: the event
 * service's probe (services/infra-probe.ts) asks the adapters and hands the answers here.
 */
import type { Problem } from './health.js';

export const CEPH_SUBJECT = 'ceph:cluster';

/** What `ceph health --format json` says: its status and the codes of its checks (sorted). */
export interface CephHealth {
  status: string;
  checks: { code: string; severity: string; summary: string }[];
}

/** Parses `ceph health --format json`; undefined when the text is not such a report. */
export function parseCephHealth(text: string): CephHealth | undefined {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof j !== 'object' || j === null) return undefined;
  const o = j as { status?: unknown; checks?: unknown };
  if (typeof o.status !== 'string' || !/^HEALTH_[A-Z]+$/.test(o.status)) return undefined;
  const checks: CephHealth['checks'] = [];
  if (typeof o.checks === 'object' && o.checks !== null) {
    for (const [code, c] of Object.entries(o.checks as Record<string, unknown>)) {
      const x = (typeof c === 'object' && c !== null ? c : {}) as { severity?: unknown; summary?: { message?: unknown }; muted?: unknown };
      if (x.muted === true) continue;
      checks.push({
        code,
        severity: typeof x.severity === 'string' ? x.severity : o.status,
        summary: typeof x.summary?.message === 'string' ? x.summary.message : '',
      });
    }
  }
  checks.sort((a, b) => (a.code < b.code ? -1 : a.code > b.code ? 1 : 0));
  return { status: o.status, checks };
}

/**
 * The Ceph problem, if any: HEALTH_WARN a warning, HEALTH_ERR (or no answer: `undefined`) critical.
 * The message names the status and the checks' codes only (their summaries change with every count,
 * and a new message is a new event); the summaries go to the log and `ceph health detail`.
 */
export function cephProblem(h: CephHealth | undefined): Problem | undefined {
  if (h === undefined)
    return { kind: 'ceph_unhealthy', severity: 'critical', subject: CEPH_SUBJECT, message: 'Ceph does not answer: `ceph health` failed or timed out.' };
  if (h.status === 'HEALTH_OK') return undefined;
  const codes = h.checks.map((c) => c.code);
  return {
    kind: 'ceph_unhealthy',
    severity: h.status === 'HEALTH_WARN' ? 'warning' : 'critical',
    subject: CEPH_SUBJECT,
    message: `Ceph health is ${h.status}${codes.length ? `: ${codes.join(', ')}` : ''}.`,
  };
}

/** One etcd endpoint's answer to a status request. */
export interface EtcdMemberStatus {
  endpoint: string;
  ok: boolean;
}

/** A problem per endpoint that did not answer (the store still works through the others, or nothing would be asked). */
export function etcdProblems(members: readonly EtcdMemberStatus[]): Problem[] {
  return members
    .filter((m) => !m.ok)
    .map((m) => ({
      kind: 'etcd_member_down' as const,
      severity: 'warning' as const,
      subject: `etcd:${m.endpoint}`,
      message: `etcd member ${m.endpoint} is unreachable: it does not answer a status request.`,
    }));
}
