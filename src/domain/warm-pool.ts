/**
 * How many idle target processes a node keeps ready (the tgt driver's warm pool): enough for its share
 * of the disks of the busiest other node, should that node fail. Pure: from the cluster view.
 */
import { type ClusterView, eligibleNodes, ownerNodeOf } from './cluster-view.js';
import { parseKey } from './keys.js';

/** Spare processes on top of the share: disks added while the pool refills, a share that is uneven. */
export const WARM_MARGIN = 2;

/**
 * The warm pool size for node `me`: the disks the busiest other eligible node holds, divided among the
 * eligible nodes that would take them over (every eligible node but that one), rounded up, plus
 * WARM_MARGIN; at most `max`. 0 when this node takes no paths (drained) or no other node holds a disk.
 */
export function warmPoolSize(v: ClusterView, me: string, max: number): number {
  const eligible = eligibleNodes(v);
  if (max <= 0 || !eligible.includes(me) || eligible.length < 2) return 0;
  const disksOf = new Map<string, Set<string>>();
  for (const kv of v.owners.values()) {
    const node = ownerNodeOf(kv.value);
    const k = parseKey(kv.key);
    if (node === undefined || node === me || k.kind !== 'owner') continue;
    const set = disksOf.get(node) ?? new Set<string>();
    set.add(k.id);
    disksOf.set(node, set);
  }
  const busiest = Math.max(0, ...[...disksOf.values()].map((s) => s.size));
  if (busiest === 0) return 0;
  return Math.min(max, Math.ceil(busiest / (eligible.length - 1)) + WARM_MARGIN);
}
