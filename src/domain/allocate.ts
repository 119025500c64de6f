/** Automatic path IP allocation. Pure; O(range) with set look-ups, whatever the number of used IPs. */
import type { ResolvedSubnet } from './config.js';
import type { SubnetChoice } from './disk.js';

export interface Allocated {
  ip: number;
  subnet: ResolvedSubnet;
}

/** First run of `count` consecutive free IPs of one subnet's auto range (a used IP resets the run). */
function firstRun(s: ResolvedSubnet, count: number, used: ReadonlySet<number>): Allocated[] | undefined {
  let runStart = s.from;
  for (let ip = s.from; ip <= s.to; ip++) {
    if (used.has(ip)) {
      runStart = ip + 1;
      continue;
    }
    if (ip - runStart + 1 === count) {
      const out: Allocated[] = [];
      for (let a = runStart; a <= ip; a++) out.push({ ip: a, subnet: s });
      return out;
    }
  }
  return undefined;
}

/**
 * "Both": walk the two auto ranges in lockstep (i-th IP of each together); a position is usable only
 * when both its IPs are free; take the first run of ceil(count/2) usable consecutive positions and
 * alternate subnet 1, subnet 2, subnet 1, ...
 */
function firstLockstepRun(
  s1: ResolvedSubnet,
  s2: ResolvedSubnet,
  count: number,
  used: ReadonlySet<number>,
): Allocated[] | undefined {
  const positions = Math.ceil(count / 2);
  const length = Math.min(s1.to - s1.from, s2.to - s2.from) + 1;
  let runStart = 0;
  for (let i = 0; i < length; i++) {
    if (used.has(s1.from + i) || used.has(s2.from + i)) {
      runStart = i + 1;
      continue;
    }
    if (i - runStart + 1 === positions) {
      const out: Allocated[] = [];
      for (let k = 0; k < count; k++) {
        const pos = runStart + Math.floor(k / 2);
        out.push(k % 2 === 0 ? { ip: s1.from + pos, subnet: s1 } : { ip: s2.from + pos, subnet: s2 });
      }
      return out;
    }
  }
  return undefined;
}

/** Automatic allocation by SPEC.md; undefined = ip_out_of_range. */
export function allocateAuto(
  choice: SubnetChoice,
  count: number,
  s1: ResolvedSubnet,
  s2: ResolvedSubnet,
  used: ReadonlySet<number>,
): Allocated[] | undefined {
  if (choice === 3) return firstLockstepRun(s1, s2, count, used);
  return firstRun(choice === 1 ? s1 : s2, count, used);
}
