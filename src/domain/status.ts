/** A disk's status, from its desired state and its paths' owners. Pure. */
import type { DiskStatus } from './disk.js';
import type { DiskState } from './keys.js';

export function servedCount(d: DiskState): number {
  let n = 0;
  for (const i of d.paths.keys()) if (d.owners.get(i)?.state === 'served') n++;
  return n;
}

export function diskStatus(d: DiskState, liveNodes?: ReadonlySet<string>): DiskStatus {
  const served = servedCount(d);
  if (d.record.desired === 'stopped') return d.owners.size > 0 ? 'stopping' : 'stopped';
  if (served === d.record.pathCount && d.paths.size === d.record.pathCount && served > 0) return 'started';
  // Some paths unserved while no live node can take them.
  if (liveNodes && liveNodes.size === 0) return 'degraded';
  return 'starting';
}
