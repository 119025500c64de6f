/**
 * Processes seen from /proc, for fault tests: which tgtd serves which portal, waiting for a PID to
 * die, killing by PID only (never by name).
 */
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { alive } from '../../helpers/procs.js';
import { waitFor } from '../../helpers/wait.js';

export interface TgtdProc {
  pid: number;
  ip: string;
  controlPort: number;
}

export { alive };

/**
 * Every live tgtd whose portal IP starts with ipPrefix (e.g. "127.62."), from its command line: `ip`
 * is the portal it was started with. A disk's tgtd may listen on more (portals added at run time) or
 * no longer on that one: consistency.ts's snapshot asks each tgtd for its portals.
 */
export function tgtdProcs(ipPrefix: string): TgtdProc[] {
  const out: TgtdProc[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let args: string[];
    try {
      args = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (!args[0]?.endsWith('tgtd')) continue;
    const portal = args.map((a) => /^portal=([\d.]+):\d+$/.exec(a)).find((m) => m)?.[1];
    const c = args.indexOf('-C');
    if (!portal?.startsWith(ipPrefix)) continue;
    const pid = Number(d);
    if (!alive(pid)) continue;
    out.push({ pid, ip: portal, controlPort: c >= 0 ? Number(args[c + 1]) : 0 });
  }
  return out.sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : a.pid - b.pid));
}

/**
 * Every live tgtd started idle for a warm pool (src/adapters/tgt/tgt.ts): its command line names a
 * placeholder portal, 127.0.0.1 on a port of 32768 and up, whatever disk it serves now. Which disk's
 * portals it listens on only tgtadm can tell (consistency.ts's snapshot asks).
 */
export function warmTgtdProcs(): TgtdProc[] {
  const out: TgtdProc[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let args: string[];
    try {
      args = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (!args[0]?.endsWith('tgtd')) continue;
    const m = args.map((a) => /^portal=127\.0\.0\.1:(\d+)$/.exec(a)).find((x) => x);
    const c = args.indexOf('-C');
    if (!m || Number(m[1]) < 32768 || c < 0) continue;
    const pid = Number(d);
    if (alive(pid)) out.push({ pid, ip: '127.0.0.1', controlPort: Number(args[c + 1]) });
  }
  return out;
}

export async function waitDead(pid: number, timeoutMs = 10_000): Promise<void> {
  await waitFor(() => !alive(pid), { what: `pid ${pid} to exit`, timeoutMs, intervalMs: 20 });
}

/** SIGKILLs each tgtd of ipPrefix by its PID (test cleanup of daemons a killed product left). */
export async function killTgtds(ipPrefix: string): Promise<number> {
  const procs = tgtdProcs(ipPrefix);
  for (const p of procs) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {}
  }
  for (const p of procs) {
    await waitDead(p.pid).catch(() => {});
    if (p.controlPort > 0) for (const f of [`socket.${p.controlPort}`, `socket.${p.controlPort}.lock`]) rmSync(`/var/run/tgtd/${f}`, { force: true });
  }
  return procs.length;
}
