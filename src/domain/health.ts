/**
 * Cluster health and its events: what is wrong now (a node down, a disk degraded, a path its node failed
 * to serve), and the events between two looks at the store (each problem raised once, cleared once).
 * Pure: the event service (services/event-service.ts) feeds it snapshots of the store.
 */
import type { DiskState } from './keys.js';
import { diskStatus } from './status.js';

export const EVENT_KINDS = [
  'node_down',
  'node_up',
  'disk_degraded',
  'disk_recovered',
  'path_failed',
  'path_recovered',
  'fence',
  'ceph_unhealthy',
  'ceph_ok',
  'etcd_member_down',
  'etcd_member_up',
  /** a scheduled snapshot (or its retention) failed: one event per failed run, nothing to clear */
  'snapshot_failed',
] as const;
export type EventKind = (typeof EVENT_KINDS)[number];
export type Severity = 'critical' | 'warning' | 'info';

/** An event as stored and sent to the webhook. */
export interface ClusterEvent {
  id: string;
  at: string;
  kind: EventKind;
  severity: Severity;
  /** What it is about: `node:<name>`, `disk:<id>`, `path:<id>/<n>`, `ceph:cluster`, `etcd:<endpoint>`. */
  subject: string;
  message: string;
  /** Set on an event that ends a problem: the kind of the event it clears. */
  clears?: EventKind;
}

/** What can be wrong now (each raises an event, and another when it ends). */
export const PROBLEM_KINDS = ['node_down', 'disk_degraded', 'path_failed', 'ceph_unhealthy', 'etcd_member_down'] as const;

export interface Problem {
  kind: (typeof PROBLEM_KINDS)[number];
  severity: Severity;
  subject: string;
  message: string;
}

/** What the store says now, as far as health goes. */
export interface HealthSnapshot {
  /** Nodes holding their lease key. */
  live: ReadonlySet<string>;
  problems: Map<string, Problem>;
}

/**
 * The problems of the cluster now. `known`: nodes seen before (a node whose lease key is gone is down
 * only if it was seen: a node that was never part of the cluster is nobody's problem).
 */
export function healthOf(disks: ReadonlyMap<string, DiskState>, live: ReadonlySet<string>, known: ReadonlySet<string>): HealthSnapshot {
  const problems = new Map<string, Problem>();
  for (const n of [...known].sort()) {
    if (live.has(n)) continue;
    problems.set(`node:${n}`, { kind: 'node_down', severity: 'critical', subject: `node:${n}`, message: `Node ${n} is down: it no longer holds its lease.` });
  }
  for (const d of disks.values()) {
    const id = d.record.id;
    if (diskStatus(d, live) === 'degraded') {
      const served = [...d.paths.keys()].filter((i) => d.owners.get(i)?.state === 'served').length;
      problems.set(`disk:${id}`, {
        kind: 'disk_degraded',
        severity: 'warning',
        subject: `disk:${id}`,
        message: `Disk ${id} "${d.record.name}" is degraded: ${served} of ${d.record.pathCount} paths served.`,
      });
    }
    for (const [i, o] of d.owners) {
      if (o.state === 'served' || typeof o.problem !== 'string' || o.problem === '') continue;
      problems.set(`path:${id}/${i}`, {
        kind: 'path_failed',
        severity: 'warning',
        subject: `path:${id}/${i}`,
        message: `Path ${i} of disk ${id} "${d.record.name}" failed to serve on ${o.node}: ${o.problem}`,
      });
    }
  }
  return { live, problems };
}

const CLEARS: Record<Problem['kind'], { kind: EventKind; text: (p: Problem) => string }> = {
  node_down: { kind: 'node_up', text: (p) => `Node ${p.subject.slice(5)} is back: it holds its lease again.` },
  disk_degraded: { kind: 'disk_recovered', text: (p) => `Disk ${p.subject.slice(5)} is no longer degraded.` },
  path_failed: { kind: 'path_recovered', text: (p) => `Path ${p.subject.slice(5)} no longer reports a failure.` },
  ceph_unhealthy: { kind: 'ceph_ok', text: () => 'Ceph health is HEALTH_OK again.' },
  etcd_member_down: { kind: 'etcd_member_up', text: (p) => `etcd member ${p.subject.slice(5)} answers again.` },
};

/** The events from one snapshot to the next: each new problem, and each problem gone (its clearing). */
export function healthEvents(prev: HealthSnapshot, next: HealthSnapshot): Omit<ClusterEvent, 'id' | 'at'>[] {
  const out: Omit<ClusterEvent, 'id' | 'at'>[] = [];
  for (const [k, p] of next.problems) {
    const was = prev.problems.get(k);
    if (!was || was.message !== p.message) out.push({ kind: p.kind, severity: p.severity, subject: p.subject, message: p.message });
  }
  for (const [k, p] of prev.problems) {
    if (next.problems.has(k)) continue;
    const c = CLEARS[p.kind];
    out.push({ kind: c.kind, severity: 'info', subject: p.subject, message: c.text(p), clears: p.kind });
  }
  return out;
}

/** The overall state for a summary: the worst severity of the problems now. */
export function overall(problems: Iterable<Problem>): 'ok' | 'warning' | 'critical' {
  let worst: 'ok' | 'warning' | 'critical' = 'ok';
  for (const p of problems) {
    if (p.severity === 'critical') return 'critical';
    if (p.severity === 'warning') worst = 'warning';
  }
  return worst;
}

/** A webhook URL: http(s), a host, no credentials in it, at most 2,000 characters. */
export function checkWebhookUrl(v: unknown): { ok: true; url: string } | { ok: false; message: string } {
  if (typeof v !== 'string' || v.length > 2000)
    return { ok: false, message: 'The webhook URL must be an http:// or https:// URL of at most 2,000 characters.' };
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    return { ok: false, message: 'The webhook URL is not a valid URL.' };
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return { ok: false, message: 'The webhook URL must start with http:// or https://.' };
  if (u.username || u.password) return { ok: false, message: 'Put no user name or password in the webhook URL.' };
  return { ok: true, url: u.toString() };
}
