/** Display formatting shared by the pages (formatters are built once: the list can hold 1,000s of rows). */

const number = new Intl.NumberFormat('en-US');
const dateTime = new Intl.DateTimeFormat(undefined, {
  year: 'numeric',
  month: 'short',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
});

export function formatNumber(n: number): string {
  return Number.isFinite(n) ? number.format(n) : '—';
}

export function formatDate(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : dateTime.format(d);
}

const dateTimeSeconds = new Intl.DateTimeFormat(undefined, {
  year: 'numeric',
  month: 'short',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});

/** With seconds (the audit log). */
export function formatDateSeconds(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : dateTimeSeconds.format(d);
}

/**
 * Capacity: one unit everywhere, binary (GiB = 1024^3 bytes; a disk's size `sizeGb` is whole GiB, as
 * the server makes its images). `formatGiB` for whole-GiB sizes, `formatBytes` for byte counts.
 */
export const GIB = 1024 ** 3;

export function formatGiB(gib: number): string {
  return `${formatNumber(gib)} GiB`;
}

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const;

export function formatBytes(n: number): string {
  let i = 0;
  let v = n;
  while (v >= 1024 && i < BYTE_UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 100 || i === 0 ? Math.round(v) : v.toFixed(1)} ${BYTE_UNITS[i]}`;
}

/** How far provisioned sizes exceed raw capacity: none (<= 100%), note (> 100%), warning (> 200%). */
export type Overcommit = 'none' | 'note' | 'warning';

export function overcommitLevel(provisionedBytes: number, totalBytes: number): Overcommit {
  if (!(totalBytes > 0)) return 'none';
  const ratio = provisionedBytes / totalBytes;
  return ratio > 2 ? 'warning' : ratio > 1 ? 'note' : 'none';
}
