/**
 * Automatic path IP allocation. Pure.
 *
 * Cost: the walk stops at the first free run, so an almost empty range costs a few set look-ups.
 * Past DIRECT_LOOKUPS positions (a range filling up) the walk switches to a bitmap of the range
 * built in one pass over `used`: a hash look-up per position is slow once the range is large and
 * the IPs are not small integers (192.168.x.y is a heap number in V8), while the bitmap costs
 * O(used + range) with tiny constants. So one allocation never costs more than O(range + used),
 * and filling the range disk by disk does not go quadratic in hash look-ups.
 */
import type { ResolvedSubnet } from './config.js';
import type { SubnetChoice } from './disk.js';

export interface Allocated {
  ip: number;
  subnet: ResolvedSubnet;
}

/** Positions looked up one by one in `used` before the walk switches to a bitmap. */
const DIRECT_LOOKUPS = 1024;

/**
 * Scratch space for usedMap, reused between calls: a fresh 64 KiB typed array per allocation is
 * external memory to V8 and makes it collect garbage far more often than the work needs.
 */
let scratch = new Uint8Array(0);

/**
 * 1 at every offset o of [0, len) where from + o (or from2 + o) is in used, 0 elsewhere. One pass
 * over used. The array may be longer than len; only [0, len) is meaningful.
 */
function usedMap(len: number, used: ReadonlySet<number>, from: number, from2?: number): Uint8Array {
  if (scratch.length < len) scratch = new Uint8Array(len);
  else scratch.fill(0, 0, len);
  const map = scratch;
  for (const ip of used) {
    const o = ip - from;
    if (o >= 0 && o < len) map[o] = 1;
    if (from2 !== undefined) {
      const o2 = ip - from2;
      if (o2 >= 0 && o2 < len) map[o2] = 1;
    }
  }
  return map;
}

/**
 * Offset of the first run of `positions` consecutive free offsets of [0, len) (a taken offset resets
 * the run), or undefined. taken(o) answers for the first DIRECT_LOOKUPS offsets, the bitmap after.
 */
function firstFreeRun(len: number, positions: number, taken: (o: number) => boolean, map: () => Uint8Array): number | undefined {
  let runStart = 0;
  const direct = Math.min(len, DIRECT_LOOKUPS);
  let o = 0;
  for (; o < direct; o++) {
    if (taken(o)) {
      runStart = o + 1;
      continue;
    }
    if (o - runStart + 1 === positions) return runStart;
  }
  if (o >= len) return undefined;
  const m = map();
  for (; o < len; o++) {
    if (m[o] === 1) {
      runStart = o + 1;
      continue;
    }
    if (o - runStart + 1 === positions) return runStart;
  }
  return undefined;
}

/** First run of `count` consecutive free IPs of one subnet's auto range (a used IP resets the run). */
function firstRun(s: ResolvedSubnet, count: number, used: ReadonlySet<number>): Allocated[] | undefined {
  const len = s.to - s.from + 1;
  const start = firstFreeRun(
    len,
    count,
    (o) => used.has(s.from + o),
    () => usedMap(len, used, s.from),
  );
  if (start === undefined) return undefined;
  const out: Allocated[] = [];
  for (let k = 0; k < count; k++) out.push({ ip: s.from + start + k, subnet: s });
  return out;
}

/**
 * "Both": walk the two auto ranges in lockstep (i-th IP of each together); a position is usable only
 * when both its IPs are free; take the first run of ceil(count/2) usable consecutive positions and
 * alternate subnet 1, subnet 2, subnet 1, ...
 */
function firstLockstepRun(s1: ResolvedSubnet, s2: ResolvedSubnet, count: number, used: ReadonlySet<number>): Allocated[] | undefined {
  const positions = Math.ceil(count / 2);
  const len = Math.min(s1.to - s1.from, s2.to - s2.from) + 1;
  const start = firstFreeRun(
    len,
    positions,
    (i) => used.has(s1.from + i) || used.has(s2.from + i),
    () => usedMap(len, used, s1.from, s2.from),
  );
  if (start === undefined) return undefined;
  const out: Allocated[] = [];
  for (let k = 0; k < count; k++) {
    const pos = start + Math.floor(k / 2);
    out.push(k % 2 === 0 ? { ip: s1.from + pos, subnet: s1 } : { ip: s2.from + pos, subnet: s2 });
  }
  return out;
}

/** Automatic allocation (docs/PRODUCT.md, adding a disk, step 2); undefined = ip_out_of_range. */
export function allocateAuto(choice: SubnetChoice, count: number, s1: ResolvedSubnet, s2: ResolvedSubnet, used: ReadonlySet<number>): Allocated[] | undefined {
  if (choice === 3) return firstLockstepRun(s1, s2, count, used);
  return firstRun(choice === 1 ? s1 : s2, count, used);
}
