/**
 * A disk's status, from its desired state, its paths' owners and whether it has been fully served
 * since it was started. Pure.
 *
 * - stopped disk: `stopping` while any owner remains, then `stopped`.
 * - started disk, every path served: `started`.
 * - started disk, some path not served:
 *   - `degraded` once the disk has been fully served since it was started (the SERVED marker: a
 *     node died or a path is being moved), or when no live node is there to serve it;
 *   - `starting` before that (a new disk, or one just started again).
 */
import type { DiskStatus } from './disk.js';
import type { DiskState } from './keys.js';

export function servedCount(d: DiskState): number {
  let n = 0;
  for (const i of d.paths.keys()) if (d.owners.get(i)?.state === 'served') n++;
  return n;
}

/** Every path of a started disk is served (and the disk has the paths its record says). */
export function fullyServed(d: DiskState): boolean {
  const served = servedCount(d);
  return d.record.desired === 'started' && served > 0 && served === d.record.pathCount && d.paths.size === d.record.pathCount;
}

export function diskStatus(d: DiskState, liveNodes?: ReadonlySet<string>): DiskStatus {
  if (d.record.desired === 'stopped') return d.owners.size > 0 ? 'stopping' : 'stopped';
  if (fullyServed(d)) return 'started';
  if (d.servedOnce) return 'degraded';
  // Some paths unserved while no live node can take them.
  if (liveNodes && liveNodes.size === 0) return 'degraded';
  return 'starting';
}

/** What the SERVED marker of a disk should become: set on the first full service, cleared once stopped. */
export function servedMarkerChange(d: DiskState): 'set' | 'clear' | undefined {
  if (!d.servedOnce && fullyServed(d)) return 'set';
  if (d.servedOnce && d.record.desired === 'stopped' && d.owners.size === 0) return 'clear';
  return undefined;
}
