/**
 * Per-disk QoS limits (docs/PRODUCT.md "QoS limits"): IOPS and bandwidth caps, total, read and write.
 * Pure: parsing, merging an edit, what changed. The image store applies them (RBD: librbd's per-image
 * QoS settings, honoured by the target's librbd; files: not enforceable, refused with qos_unsupported).
 */
import { type Failure, fail } from './outcomes.js';

/** The limits, as the API names them: I/O operations per second and bytes per second. */
export const QOS_LIMITS = ['iops', 'readIops', 'writeIops', 'bps', 'readBps', 'writeBps'] as const;
export type QosLimit = (typeof QOS_LIMITS)[number];

/** The limits set on a disk; a limit left out is unlimited. */
export type Qos = Partial<Record<QosLimit, number>>;

/** Bounds of each kind: an IOPS limit from 1 to 10 million, a bandwidth limit from 4 KiB/s (one block) to 1 PB/s. */
export const QOS_BOUNDS = {
  iops: { min: 1, max: 10_000_000 },
  bps: { min: 4096, max: 1_000_000_000_000_000 },
} as const;

const isBytes = (k: QosLimit): boolean => k.toLowerCase().endsWith('bps');

/** Human name of a limit, for messages. */
export function qosLabel(k: QosLimit): string {
  const dir = k.startsWith('read') ? 'read ' : k.startsWith('write') ? 'write ' : '';
  return `${dir}${isBytes(k) ? 'bandwidth (bytes/s)' : 'IOPS'} limit`;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * The limits of a request's `qos` object, applied over `current` (an edit keeps what it leaves out): a
 * positive integer sets a limit, 0 or null removes it. `undefined` / null as a whole: `current` (none at
 * an add). The failure names the field (`qos.<limit>`).
 */
export function parseQos(raw: unknown, current: Qos = {}): Qos | Failure {
  if (raw === undefined || raw === null) return { ...current };
  if (!isObj(raw)) return fail('invalid_qos', 'QoS limits must be an object of iops, readIops, writeIops, bps, readBps, writeBps.', 'qos');
  for (const k of Object.keys(raw))
    if (!(QOS_LIMITS as readonly string[]).includes(k))
      return fail('invalid_qos', `Unknown QoS limit "${k.slice(0, 40)}": use iops, readIops, writeIops, bps, readBps or writeBps.`, 'qos');
  const next: Qos = { ...current };
  for (const k of QOS_LIMITS) {
    const v = raw[k];
    if (v === undefined) continue;
    if (v === null || v === 0) {
      delete next[k];
      continue;
    }
    const { min, max } = isBytes(k) ? QOS_BOUNDS.bps : QOS_BOUNDS.iops;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max)
      return fail('invalid_qos', `The ${qosLabel(k)} must be a whole number from ${min} to ${max}, or 0 for none.`, `qos.${k}`);
    next[k] = v;
  }
  return next;
}

/** Whether any limit is set. */
export function hasQos(q: Qos | undefined): boolean {
  return q !== undefined && QOS_LIMITS.some((k) => q[k] !== undefined);
}

/** The limits in a fixed order, only those set (what is stored and shown). */
export function normalQos(q: Qos | undefined): Qos {
  const out: Qos = {};
  for (const k of QOS_LIMITS) if (q?.[k] !== undefined) out[k] = q[k];
  return out;
}

/** Whether two sets of limits are the same. */
export function sameQos(a: Qos | undefined, b: Qos | undefined): boolean {
  return QOS_LIMITS.every((k) => a?.[k] === b?.[k]);
}

/** What an edit changed, limit by limit ({from, to}; null = unlimited), for the audit log. */
export function qosChanges(before: Qos | undefined, after: Qos | undefined): Record<string, { from: number | null; to: number | null }> {
  const out: Record<string, { from: number | null; to: number | null }> = {};
  for (const k of QOS_LIMITS) if (before?.[k] !== after?.[k]) out[k] = { from: before?.[k] ?? null, to: after?.[k] ?? null };
  return out;
}

/** The failure for a backend that cannot enforce limits. */
export function qosUnsupported(backend: string): Failure {
  return fail(
    'qos_unsupported',
    `QoS limits need Ceph RBD images (librbd enforces them); this ${backend} backend cannot enforce them, so none were set. Leave the limits empty.`,
    'qos',
  );
}
