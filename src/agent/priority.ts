/**
 * CPU priority of a cluster node's agent. Its lease renewals and its fence watchdog run on its event
 * loop, and its fence guard fences the node when renewals stop for F = 0.6 TTL: an agent starved of CPU
 * (a burst of tgtd starts, a busy host) is fenced although nothing failed, and drops every path it
 * serves. Measured on the 3-node harness at load ~15 on 2 CPUs (bench/failover-scale.ts, N=150, TTL
 * 3 s): event-loop stalls up to 1.2 s, the survivors fenced twice, 100 moved paths answering 80 s after
 * the failure instead of a few.
 *
 * So an agent that may (root, CAP_SYS_NICE) lowers its nice value (default -10) in two places:
 *  - its own thread (the event loop). Children inherit it: the guard, `ip`, `arping` (short,
 *    latency-critical); the tgtd starter puts the tgtds back to nice 0 (tgtd.ts);
 *  - its autogroup (/proc/self/autogroup), when the kernel groups tasks by session: the scheduler first
 *    shares CPU between sessions, so a thread's nice alone does not lift it above other sessions' work.
 * Neither can fail the agent: a refusal is logged and the agent runs at the priority it has.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import type { Logger } from 'pino';

export const DEFAULT_AGENT_NICE = -10;

/** The thread's nice value before raiseAgentPriority raised it (undefined: not raised). */
let before: number | undefined;

/** The nice value long-running children (tgtds) are put back to: the agent's own before it was raised. */
export function ordinaryNice(): number | undefined {
  return before;
}

/** Is `n` a nice value (-20..19)? */
export function isNice(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= -20 && n <= 19;
}

/** Raises this process's scheduling priority to `nice` (never lowers it). */
export function raiseAgentPriority(nice: number, log: Logger): void {
  try {
    const was = getPriority(0);
    if (was > nice) {
      setPriority(0, nice);
      before = was;
    }
  } catch (e) {
    log.warn({ nice, err: (e as Error).message }, 'cannot raise the agent thread priority; it runs at the priority it has');
  }
  try {
    const current = /nice\s+(-?\d+)/.exec(readFileSync('/proc/self/autogroup', 'utf8'))?.[1];
    if (current !== undefined && Number(current) > nice) writeFileSync('/proc/self/autogroup', String(nice));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // no autogroup file: the kernel does not group by session, the thread's nice is what counts
    if (code !== 'ENOENT') log.warn({ nice, err: (e as Error).message }, 'cannot raise the agent autogroup priority');
  }
  log.info({ nice: getPriority(0) }, 'agent scheduling priority');
}
