/**
 * Network namespace plumbing for the simulated cluster, by `ip` with argument arrays. Nothing here
 * puts an address on the root namespace or sends a packet from it: links are created inside the
 * namespaces (`ip -n NS link add ... peer ... netns OTHER`), addresses live only inside them.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { run } from '../../src/adapters/exec.js';
import { alive } from '../helpers/procs.js';

export const ip = (args: string[]) => run('ip', args, { timeoutMs: 15_000 });
export const ipn = (ns: string, args: string[]) => ip(['-n', ns, ...args]);

export async function addNamespace(ns: string): Promise<void> {
  await ip(['netns', 'add', ns]);
  await ipn(ns, ['link', 'set', 'lo', 'up']);
}

export async function deleteNamespace(ns: string): Promise<void> {
  await ip(['netns', 'del', ns]).catch(() => undefined);
}

export function deleteNamespaceSync(ns: string): void {
  try {
    execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: 10_000 });
  } catch {
    // gone already
  }
}

export function namespaceExists(ns: string): boolean {
  try {
    statSync(`/run/netns/${ns}`);
    return true;
  } catch {
    return false;
  }
}

/** A veth pair from `aNs` (named a) to `bNs` (named b), both ends up. */
export async function veth(aNs: string, a: string, bNs: string, b: string): Promise<void> {
  await ipn(aNs, ['link', 'add', a, 'type', 'veth', 'peer', 'name', b, 'netns', bNs]);
  await ipn(aNs, ['link', 'set', a, 'up']);
  await ipn(bNs, ['link', 'set', b, 'up']);
}

export interface NsAddr {
  ip: string;
  prefix: number;
  dev: string;
}

/** IPv4 addresses of a namespace ([] when it is gone). */
export async function addrs(ns: string): Promise<NsAddr[]> {
  let out: string;
  try {
    out = (await ipn(ns, ['-j', '-4', 'addr', 'show'])).stdout;
  } catch {
    return [];
  }
  const res: NsAddr[] = [];
  for (const link of JSON.parse(out || '[]') as { ifname: string; addr_info?: { family: string; local: string; prefixlen: number }[] }[])
    for (const a of link.addr_info ?? []) if (a.family === 'inet') res.push({ ip: a.local, prefix: a.prefixlen, dev: link.ifname });
  return res;
}

/** Inode of a named namespace (what /proc/<pid>/ns/net links to). */
export function namespaceInode(ns: string): number | undefined {
  try {
    return statSync(`/run/netns/${ns}`).ino;
  } catch {
    return undefined;
  }
}

/** PIDs of every process living in one of these network namespaces (by inode). */
export function pidsInNamespaces(inodes: ReadonlySet<number>): number[] {
  const out: number[] = [];
  if (inodes.size === 0) return out;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const m = /^net:\[(\d+)\]$/.exec(readlinkSync(`/proc/${d}/ns/net`));
      if (m && inodes.has(Number(m[1]))) out.push(Number(d));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

export { alive };

export function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      .split('\0')
      .filter((s) => s !== '');
  } catch {
    return [];
  }
}

export function killPid(pid: number, sig: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone
  }
}
