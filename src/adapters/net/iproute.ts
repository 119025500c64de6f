/**
 * Host network for a node of a cluster: path IPs are added to the subnet's interface with
 * `ip addr add IP/prefix dev ETH`, announced with a gratuitous ARP (`arping -U`, iputils-arping) once
 * the target serves them, and removed with `ip addr del` on release and when fencing.
 *
 * Several path IPs of one subnet on one interface: the first is the primary address, the others are
 * secondaries, and Linux deletes every secondary with its primary unless the interface has
 * `promote_secondaries` set; addIp sets it (this process's network namespace's /proc/sys).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import type { Logger } from 'pino';
import { isIp } from '../../domain/ip.js';
import { TurnBatcher } from '../../util/async.js';
import { ExecError, run } from '../exec.js';
import type { HostNetwork } from './loopback.js';

const ETH = /^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,14}$/;

/** How long an announce waits for its arping to say it sends (a wait, never an error). */
const ANNOUNCE_WAIT_MS = 250;

/** A program's path on $PATH, or undefined. */
function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    const f = join(dir || '.', name);
    try {
      accessSync(f, constants.X_OK);
      return f;
    } catch {}
  }
  return undefined;
}

export interface IpRouteNetworkOptions {
  log?: Logger;
  /** Work on this named network namespace instead of the process's own (`ip -n`; tests). */
  netns?: string;
  ip?: string;
  arping?: string;
  /** Gratuitous ARPs sent per announce. */
  arpCount?: number;
}

interface AddrEntry {
  ip: string;
  prefix: number;
  dev: string;
}

/**
 * Path IPs added and announced in one event-loop turn go together: one `ip -batch` for the adds, one
 * `xargs` running the `arping`s side by side. A failover serves many disks at once, and a program
 * started per IP (two per path with the announce) was most of the survivors' time: each start blocks
 * the agent's event loop for the fork (25-50 ms on a loaded 2-CPU box).
 */
export class IpRouteNetwork implements HostNetwork {
  private readonly ipCmd: string;
  private readonly arping: string;
  private readonly promoted = new Set<string>();
  private readonly adds = new TurnBatcher<AddrEntry, void>((items) => this.addBatch(items));
  private readonly announces = new TurnBatcher<{ ip: string; eth: string }, void>((items) => this.announceBatch(items));

  constructor(private readonly o: IpRouteNetworkOptions = {}) {
    this.ipCmd = o.ip ?? 'ip';
    this.arping = o.arping ?? 'arping';
  }

  /** `ip ARGS`, in the configured namespace. */
  private ip(args: string[], input?: string) {
    const ns = this.o.netns ? ['-n', this.o.netns] : [];
    return run(this.ipCmd, [...ns, ...args], { timeoutMs: 10_000, ...(input !== undefined ? { input } : {}) });
  }

  private check(ip: string, eth?: string): void {
    if (!isIp(ip)) throw new Error(`invalid IP ${JSON.stringify(ip).slice(0, 40)}`);
    if (eth !== undefined && !ETH.test(eth)) throw new Error(`invalid interface name ${JSON.stringify(eth).slice(0, 40)}`);
  }

  /** Every IPv4 address of this namespace. */
  private async addrs(): Promise<AddrEntry[]> {
    const { stdout } = await this.ip(['-j', '-4', 'addr', 'show']);
    const out: AddrEntry[] = [];
    for (const link of JSON.parse(stdout || '[]') as { ifname: string; addr_info?: { family: string; local: string; prefixlen: number }[] }[])
      for (const a of link.addr_info ?? []) if (a.family === 'inet') out.push({ ip: a.local, prefix: a.prefixlen, dev: link.ifname });
    return out;
  }

  async listIps(): Promise<string[]> {
    return (await this.addrs()).map((a) => a.ip);
  }

  private async promoteSecondaries(eth: string): Promise<void> {
    if (this.promoted.has(eth)) return;
    try {
      if (this.o.netns)
        await run(this.ipCmd, ['netns', 'exec', this.o.netns, 'sysctl', '-q', '-w', `net.ipv4.conf.${eth}.promote_secondaries=1`], { timeoutMs: 10_000 });
      else await writeFile(`/proc/sys/net/ipv4/conf/${eth}/promote_secondaries`, '1');
      this.promoted.add(eth);
    } catch (e) {
      this.o.log?.warn({ eth, err: (e as Error).message }, 'cannot set promote_secondaries');
    }
  }

  async addIp(ip: string, prefix: number, eth: string): Promise<void> {
    this.check(ip, eth);
    if (!Number.isInteger(prefix) || prefix < 1 || prefix > 32) throw new Error(`invalid prefix ${prefix}`);
    await this.promoteSecondaries(eth);
    await this.adds.add({ ip, prefix, dev: eth });
  }

  /**
   * Adds every address of a turn with one `ip -force -batch` (it goes on past a failed line and names
   * each: `Command failed -:N`). A failed line is done again alone (addOne): present already (ours,
   * as is, or to be moved here), or a real error for that address only.
   */
  private async addBatch(items: AddrEntry[]): Promise<(undefined | Error)[]> {
    const lines = items.map((a) => `addr add ${a.ip}/${a.prefix} dev ${a.dev}`);
    const failed = new Set<number>();
    try {
      await this.ip(['-force', '-batch', '-'], `${lines.join('\n')}\n`);
    } catch (e) {
      if (!(e instanceof ExecError) || e.timedOut || e.exitCode === null) return items.map(() => e as Error);
      for (const m of e.stderr.matchAll(/Command failed -:(\d+)/g)) failed.add(Number(m[1]) - 1);
      // Failed without naming a line: each address alone.
      if (failed.size === 0) for (let i = 0; i < items.length; i++) failed.add(i);
    }
    const out: (undefined | Error)[] = [];
    for (const [i, a] of items.entries()) {
      if (!failed.has(i)) {
        out.push(undefined);
        continue;
      }
      out.push(
        await this.addOne(a).then(
          () => undefined,
          (e: unknown) => (e instanceof Error ? e : new Error(String(e))),
        ),
      );
    }
    this.o.log?.info({ ips: items.map((a) => a.ip), again: failed.size }, 'ips added');
    return out;
  }

  private async addOne({ ip, prefix, dev: eth }: AddrEntry): Promise<void> {
    const add = () => this.ip(['addr', 'add', `${ip}/${prefix}`, 'dev', eth]);
    try {
      await add();
      return;
    } catch (e) {
      if (!(e instanceof ExecError && /File exists|already assigned/.test(e.stderr))) throw e;
    }
    // Present already (a path's prefix and interface are fixed, so the usual case is: ours, as is).
    // Fine if on this interface with this prefix, otherwise move it here.
    const have = (await this.addrs()).filter((a) => a.ip === ip);
    if (have.some((a) => a.dev === eth && a.prefix === prefix)) return;
    for (const a of have) await this.del(a);
    await add();
  }

  private async del(a: AddrEntry): Promise<void> {
    try {
      await this.ip(['addr', 'del', `${a.ip}/${a.prefix}`, 'dev', a.dev]);
      this.o.log?.info({ ip: a.ip, eth: a.dev }, 'ip removed');
    } catch (e) {
      // already gone (released twice, or its interface went away)
      if (!(e instanceof ExecError && /Cannot assign requested address|Cannot find device/.test(e.stderr))) throw e;
    }
  }

  async removeIp(ip: string): Promise<void> {
    this.check(ip);
    for (const a of (await this.addrs()).filter((x) => x.ip === ip)) await this.del(a);
  }

  /**
   * The fast path of fencing: one `ip -force -batch` deleting every given address, no listing first
   * (addresses this node does not have just fail inside the batch).
   */
  async dropIps(addrs: readonly { ip: string; prefix: number; eth: string }[]): Promise<void> {
    const ok = addrs.filter((a) => isIp(a.ip) && ETH.test(a.eth) && Number.isInteger(a.prefix) && a.prefix >= 1 && a.prefix <= 32);
    if (ok.length === 0) return;
    const batch = ok.map((a) => `addr del ${a.ip}/${a.prefix} dev ${a.eth}`).join('\n');
    // exits non-zero when some address was not there: expected
    await this.ip(['-force', '-batch', '-'], `${batch}\n`).catch(() => undefined);
    this.o.log?.info({ ips: ok.map((a) => a.ip) }, 'ips dropped');
  }

  async announce(ip: string, eth: string): Promise<void> {
    this.check(ip, eth);
    await this.announces.add({ ip, eth });
  }

  /**
   * The gratuitous ARPs of a turn go to one long-lived `xargs -0 -P 0 -n 8 -- stdbuf -oL arping`
   * (started at the first announce, again if it has gone), which starts an `arping -U` per IP as soon
   * as it reads its 8 arguments: the agent forks nothing per announce. A fork of the agent (a large
   * process) per turn was ~12% of its CPU in a 50-disk takeover (its serves finish in many different
   * turns). Each arping prints "ARPING <ip> from ..." (line-buffered through stdbuf) just before it
   * sends: announce() resolves then, or after ANNOUNCE_WAIT_MS, so a caller can know the ARP is out
   * before it tells hosts to connect. The helper ends when its input does (the agent exiting closes
   * it). Without it (spawn failed), one `xargs` per turn.
   */
  private announcer: ChildProcess | undefined;
  /** Announces waiting for their arping's first line, per IP. */
  private readonly sending = new Map<string, (() => void)[]>();
  /** The helper's arpings print line by line (stdbuf found): announces wait for their line. */
  private helperLines = false;

  private announcerInput(): Writable | undefined {
    const live = this.announcer;
    if (live && live.exitCode === null && live.signalCode === null && live.stdin?.writable) return live.stdin;
    const stdbuf = onPath('stdbuf');
    this.helperLines = stdbuf !== undefined;
    const xargs = ['xargs', '-0', '-r', '-P', '0', '-n', '8', '--', ...(stdbuf ? [stdbuf, '-oL'] : []), this.arping];
    let child: ChildProcess;
    try {
      child = this.o.netns
        ? spawn(this.ipCmd, ['netns', 'exec', this.o.netns, ...xargs], { stdio: ['pipe', 'pipe', 'ignore'] })
        : spawn(xargs[0] as string, xargs.slice(1), { stdio: ['pipe', 'pipe', 'ignore'] });
    } catch (e) {
      this.o.log?.warn({ err: (e as Error).message }, 'gratuitous ARP helper could not be started');
      return undefined;
    }
    child.once('error', (e) => {
      this.o.log?.warn({ err: e.message }, 'gratuitous ARP helper failed');
      if (this.announcer === child) this.announcer = undefined;
    });
    child.once('exit', () => {
      if (this.announcer === child) this.announcer = undefined;
    });
    child.stdin?.on('error', () => {
      if (this.announcer === child) this.announcer = undefined;
    });
    let rest = '';
    child.stdout?.on('data', (d: Buffer) => {
      const lines = (rest + d.toString('latin1')).split('\n');
      rest = lines.pop() ?? '';
      for (const l of lines) {
        const m = /^ARPING (\S+) /.exec(l);
        const waiting = m ? this.sending.get(m[1] as string) : undefined;
        if (!waiting) continue;
        this.sending.delete(m?.[1] as string);
        for (const w of waiting) w();
      }
    });
    // Neither keeps the process alive: it ends when the agent does (its input closes with it).
    child.unref();
    for (const st of [child.stdin, child.stdout]) (st as { unref?: () => void } | null)?.unref?.();
    this.announcer = child;
    return child.stdin ?? undefined;
  }

  /**
   * Ends the gratuitous-ARP helper (its input closed: xargs waits for its arpings, at most a second, then
   * exits) and resolves once it has. The agent's process ending does the same; this is for an owner that
   * lives on (tests).
   */
  async close(): Promise<void> {
    const child = this.announcer;
    this.announcer = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((res) => {
      // Its arpings run a second at most; one that hangs is not waited for past three.
      const t = setTimeout(() => {
        child.kill('SIGKILL');
        res();
      }, 3000);
      child.once('exit', () => {
        clearTimeout(t);
        res();
      });
    });
    child.stdin?.end();
    await gone;
  }

  private async announceBatch(items: { ip: string; eth: string }[]): Promise<undefined[]> {
    const count = String(this.o.arpCount ?? 1);
    // -U: unsolicited (gratuitous) ARP: neighbours update the MAC they have for ip.
    const input = items
      .flatMap((a) => ['-U', '-c', count, '-w', count, '-I', a.eth, a.ip])
      .map((arg) => `${arg}\0`)
      .join('');
    const helper = this.announcerInput();
    if (helper) {
      if (!this.helperLines) {
        helper.write(input);
        return items.map(() => undefined);
      }
      // Each IP's arping says when it sends (its first line), at most ANNOUNCE_WAIT_MS from now.
      const sent = items.map(
        (a) =>
          new Promise<void>((res) => {
            const done = () => {
              clearTimeout(t);
              res();
            };
            const t = setTimeout(() => {
              const list = (this.sending.get(a.ip) ?? []).filter((w) => w !== done);
              if (list.length) this.sending.set(a.ip, list);
              else this.sending.delete(a.ip);
              res();
            }, ANNOUNCE_WAIT_MS);
            this.sending.set(a.ip, [...(this.sending.get(a.ip) ?? []), done]);
          }),
      );
      helper.write(input);
      await Promise.all(sent);
      return items.map(() => undefined);
    }
    // No helper: one `xargs` for this turn, not waited for (each arping runs for a second).
    const xargs = ['xargs', '-0', '-r', '-P', '0', '-n', '8', '--', this.arping];
    const once = this.o.netns
      ? run(this.ipCmd, ['netns', 'exec', this.o.netns, ...xargs], { timeoutMs: 20_000, input })
      : run(xargs[0] as string, xargs.slice(1), { timeoutMs: 20_000, input });
    once.catch((e) => {
      // xargs exits 123 when an arping exited 1: nobody answered, which is normal for unsolicited ARP
      if (!(e instanceof ExecError && e.exitCode === 123))
        this.o.log?.warn({ ips: items.map((a) => a.ip), err: (e as Error).message }, 'gratuitous ARP failed');
    });
    return items.map(() => undefined);
  }
}
