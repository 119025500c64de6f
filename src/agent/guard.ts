/**
 * The fence guard (`portway agent-guard`): a small process per cluster node, separate from the agent
 * (its own session, so it outlives the agent's death), that fences the node when the agent cannot.
 *
 * The agent's in-process watchdog (docs/HA.md) fences only while the agent runs. If the agent dies
 * (crash, OOM kill, SIGKILL) or hangs (SIGSTOP, a paused VM) its tgtds keep serving and its path IPs stay
 * on the interfaces, and once its lease expires another node takes the paths: one IP live on two nodes.
 * The guard closes that gap:
 *
 * - the agent feeds it over a unix socket in the run dir (`<stateDir>/run/guard.sock`, so a restarted
 *   agent reconnects to the running guard): after every successful lease renewal a deadline (the
 *   renewal's send time + the agent's fence time 0.6 TTL, exactly the in-process watchdog's), and the
 *   path IPs (interface, prefix) it holds, each *before* it adds it, and the tgtds it serves through;
 * - when the deadline passes without a newer one, the guard SIGKILLs the tgtds (those reported and
 *   those recorded in the tgt driver's state files, each pid checked against /proc/<pid>/cmdline: no
 *   recycled pid is killed), deletes exactly the reported path IPs (one `ip -force -batch`), tells any
 *   connected agent, and exits;
 * - a graceful release (the agent's SIGTERM, paths given back) tells it to stand down: it exits. A
 *   keep-exit (SIGQUIT) or a crash leaves it running with its deadline; a new agent that connects in
 *   time takes over feeding once it has adopted the keys under its new lease, else the guard fences.
 *
 * Time: deadlines travel as CLOCK_MONOTONIC ms (process.hrtime: one clock for every process of the
 * host, unlike performance.now(), whose origin is per process) together with the time left when sent;
 * the guard takes the earlier of the two readings (min(at, received + inMs)), so a clock that is not
 * shared can only make it fence earlier, never later.
 *
 * Everything pure (message parsing and validation, the deadline state) is GuardCore / parseAgentMessage,
 * unit-tested in test/unit/agent-guard.test.ts.
 */
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { type Server, type Socket, connect, createServer } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pino, { type Logger } from 'pino';
import { IpRouteNetwork } from '../adapters/net/iproute.js';
import { createLogger } from '../app/logging.js';
import { isIp } from '../domain/ip.js';

export const GUARD_SOCKET = 'guard.sock';
export const GUARD_PID_FILE = 'guard.pid';
/** A line longer than this is a protocol error (1,000 path IPs are ~60 KB). */
const MAX_LINE = 4 * 1024 * 1024;
/** A deadline further away than this is refused (the TTL is seconds to a few minutes). */
const MAX_AHEAD_MS = 3_600_000;
/** An unarmed guard with no agent connected for this long exits (nothing to guard). */
export const GUARD_IDLE_MS = 20_000;

/** CLOCK_MONOTONIC in ms: one clock for all processes of the host (performance.now() starts per process). */
export function monoMs(): number {
  return Number(process.hrtime.bigint() / 1000n) / 1000;
}

export interface HeldIp {
  ip: string;
  prefix: number;
  eth: string;
}

export interface HeldTgtd {
  ip: string;
  pid: number;
  controlPort?: number;
}

export type AgentMessage =
  | { t: 'hello'; pid: number; node: string }
  /** at: CLOCK_MONOTONIC ms at which to fence; inMs: at - the sender's clock when it sent. */
  | { t: 'deadline'; at: number; inMs: number }
  | { t: 'hold'; ips: HeldIp[] }
  | { t: 'release'; ips: string[] }
  | { t: 'tgtds'; tgtds: HeldTgtd[] }
  | { t: 'standdown' };

export type GuardMessage = { t: 'state'; armed: boolean; inMs?: number; held: number; pid: number } | { t: 'fenced'; reason: string };

const ETH = /^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,14}$/;
const NODE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

function isPid(x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x) && x > 1 && x < 2 ** 22;
}

export function isHeldIp(x: unknown): x is HeldIp {
  const h = x as HeldIp;
  return (
    typeof h === 'object' &&
    h !== null &&
    typeof h.ip === 'string' &&
    isIp(h.ip) &&
    typeof h.eth === 'string' &&
    ETH.test(h.eth) &&
    Number.isInteger(h.prefix) &&
    h.prefix >= 1 &&
    h.prefix <= 32
  );
}

function isHeldTgtd(x: unknown): x is HeldTgtd {
  const h = x as HeldTgtd;
  return (
    typeof h === 'object' &&
    h !== null &&
    typeof h.ip === 'string' &&
    isIp(h.ip) &&
    isPid(h.pid) &&
    (h.controlPort === undefined || (Number.isInteger(h.controlPort) && h.controlPort > 0 && h.controlPort < 65536))
  );
}

/** One line of the agent's protocol, validated; undefined if it is not a well-formed message. */
export function parseAgentMessage(line: string): AgentMessage | undefined {
  let m: any;
  try {
    m = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof m !== 'object' || m === null) return undefined;
  switch (m.t) {
    case 'hello':
      return isPid(m.pid) && typeof m.node === 'string' && NODE.test(m.node) ? { t: 'hello', pid: m.pid, node: m.node } : undefined;
    case 'deadline':
      return Number.isFinite(m.at) && Number.isFinite(m.inMs) && m.inMs <= MAX_AHEAD_MS ? { t: 'deadline', at: m.at, inMs: m.inMs } : undefined;
    case 'hold':
      return Array.isArray(m.ips) && m.ips.length <= 100_000 && m.ips.every(isHeldIp)
        ? { t: 'hold', ips: m.ips.map((h: HeldIp) => ({ ip: h.ip, prefix: h.prefix, eth: h.eth })) }
        : undefined;
    case 'release':
      return Array.isArray(m.ips) && m.ips.length <= 100_000 && m.ips.every((ip: unknown) => typeof ip === 'string' && isIp(ip))
        ? { t: 'release', ips: m.ips }
        : undefined;
    case 'tgtds':
      return Array.isArray(m.tgtds) && m.tgtds.length <= 100_000 && m.tgtds.every(isHeldTgtd)
        ? { t: 'tgtds', tgtds: m.tgtds.map((h: HeldTgtd) => ({ ip: h.ip, pid: h.pid, ...(h.controlPort ? { controlPort: h.controlPort } : {}) })) }
        : undefined;
    case 'standdown':
      return { t: 'standdown' };
    default:
      return undefined;
  }
}

/**
 * The guard's state, pure: what to fence (IPs held, tgtds) and when (the deadline, CLOCK_MONOTONIC
 * ms). The latest deadline wins (one agent's deadlines only grow; a new agent's replaces the old
 * one's once it has adopted the keys). IPs stay held until the agent reports them removed.
 */
export class GuardCore {
  deadline: number | undefined;
  readonly held = new Map<string, HeldIp>();
  tgtds: HeldTgtd[] = [];
  standingDown = false;

  /** Applies one message received at `recvMono`. */
  apply(msg: AgentMessage, recvMono: number): void {
    switch (msg.t) {
      case 'deadline':
        this.deadline = effectiveDeadline(msg.at, msg.inMs, recvMono);
        break;
      case 'hold':
        for (const h of msg.ips) this.held.set(h.ip, h);
        break;
      case 'release':
        for (const ip of msg.ips) this.held.delete(ip);
        break;
      case 'tgtds':
        this.tgtds = msg.tgtds;
        break;
      case 'standdown':
        this.standingDown = true;
        break;
      case 'hello':
        break;
    }
  }

  get armed(): boolean {
    return this.deadline !== undefined;
  }

  /** ms until the fence is due (<= 0: due), or undefined when unarmed. */
  remaining(now: number): number | undefined {
    return this.deadline === undefined ? undefined : this.deadline - now;
  }

  due(now: number): boolean {
    return !this.standingDown && this.deadline !== undefined && now >= this.deadline;
  }
}

/**
 * The deadline the guard keeps for a message: the earlier of the absolute reading (`at`, right if
 * both processes read one CLOCK_MONOTONIC) and the duration from receipt (`recv + inMs`, late by the
 * transit time but right whatever the clocks). Never later than either.
 */
export function effectiveDeadline(at: number, inMs: number, recvMono: number): number {
  return Math.min(at, recvMono + inMs);
}

/**
 * The CLOCK_MONOTONIC deadline for a renewal sent at `sentPerf` (performance.now() ms) with fence time
 * `fenceAfterMs`: converted through the offset between the two clocks read now (1 ms earlier, so the
 * conversion can only err early).
 */
export function deadlineFromRenewal(sentPerf: number, fenceAfterMs: number, nowPerf: number, nowMono: number): number {
  return nowMono - nowPerf + sentPerf + fenceAfterMs - 1;
}

/** pid's command line, or [] if it is gone. */
function cmdlineOf(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

/** Is pid (still) a tgtd serving ip (with this control port, when known)? Checked in /proc: pid reuse. */
export function isTgtdFor(args: readonly string[], ip: string, controlPort?: number): boolean {
  return (
    (args[0] ?? '').endsWith('tgtd') && args.some((a) => a.startsWith(`portal=${ip}:`)) && (controlPort === undefined || args.includes(String(controlPort)))
  );
}

/** The tgtds the tgt driver's state files record (<runDir>/tgt/<ip>.json). */
function recordedTgtds(tgtRunDir: string): HeldTgtd[] {
  const out: HeldTgtd[] = [];
  let files: string[] = [];
  try {
    files = readdirSync(tgtRunDir).filter((f) => f.endsWith('.json'));
  } catch {
    return out;
  }
  for (const f of files) {
    try {
      const s = JSON.parse(readFileSync(join(tgtRunDir, f), 'utf8')) as unknown;
      if (isHeldTgtd(s)) out.push({ ip: s.ip, pid: s.pid, ...(s.controlPort ? { controlPort: s.controlPort } : {}) });
    } catch {}
  }
  return out;
}

export interface GuardOptions {
  /** The agent's run dir (<stateDir>/run): the socket and pid file live here, tgtd state files in tgt/. */
  runDir: string;
  log: Logger;
  /** Drops IPs (default: `ip -force -batch` in this process's network namespace). */
  dropIps?: (ips: HeldIp[]) => Promise<void>;
  idleMs?: number;
  /** Called instead of process.exit (tests). */
  exit?: (code: number) => void;
}

/** The guard process: the socket server, the timer, the fence. */
export class Guard {
  readonly core = new GuardCore();
  private server: Server | undefined;
  private readonly conns = new Set<Socket>();
  private timer: NodeJS.Timeout | undefined;
  private idle: NodeJS.Timeout | undefined;
  private done = false;
  private readonly socketPath: string;
  private readonly pidFile: string;

  constructor(private readonly o: GuardOptions) {
    this.socketPath = join(o.runDir, GUARD_SOCKET);
    this.pidFile = join(o.runDir, GUARD_PID_FILE);
  }

  /** Listens on the socket; false if another guard already answers there (this one should exit). */
  async start(): Promise<boolean> {
    if (existsSync(this.socketPath)) {
      const taken = await new Promise<boolean>((res) => {
        const s = connect(this.socketPath);
        s.once('connect', () => {
          s.destroy();
          res(true);
        });
        s.once('error', () => res(false));
      });
      if (taken) return false;
      rmSync(this.socketPath, { force: true });
    }
    const server = createServer((sock) => this.accept(sock));
    this.server = server;
    await new Promise<void>((res, rej) => {
      server.once('error', rej);
      server.listen(this.socketPath, () => res());
    });
    writeFileSync(this.pidFile, `${process.pid}\n`);
    this.armIdle();
    this.o.log.info({ socket: this.socketPath }, 'fence guard listening');
    return true;
  }

  private accept(sock: Socket): void {
    this.conns.add(sock);
    if (this.idle) clearTimeout(this.idle);
    this.idle = undefined;
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      const recv = monoMs();
      buf += chunk;
      if (buf.length > MAX_LINE) {
        this.o.log.warn('agent message too long: connection closed');
        sock.destroy();
        return;
      }
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line.trim()) this.onLine(sock, line, recv);
      }
    });
    sock.on('error', () => {});
    sock.on('close', () => {
      this.conns.delete(sock);
      if (this.conns.size === 0 && !this.done) {
        this.o.log.info({ armed: this.core.armed, inMs: this.rounded(), held: this.core.held.size }, 'agent disconnected');
        this.armIdle();
      }
    });
  }

  private rounded(): number | undefined {
    const r = this.core.remaining(monoMs());
    return r === undefined ? undefined : Math.round(r);
  }

  private onLine(sock: Socket, line: string, recv: number): void {
    const msg = parseAgentMessage(line);
    if (!msg) {
      this.o.log.warn({ line: line.slice(0, 200) }, 'invalid agent message ignored');
      return;
    }
    const wasArmed = this.core.armed;
    this.core.apply(msg, recv);
    if (msg.t === 'hello') {
      this.o.log.info({ agentPid: msg.pid, node: msg.node, armed: this.core.armed, inMs: this.rounded(), held: this.core.held.size }, 'agent connected');
      const r = this.core.remaining(monoMs());
      this.send(sock, { t: 'state', armed: this.core.armed, ...(r !== undefined ? { inMs: r } : {}), held: this.core.held.size, pid: process.pid });
    } else if (msg.t === 'deadline') {
      if (!wasArmed) this.o.log.info({ inMs: this.rounded() }, 'armed');
      this.schedule();
    } else if (msg.t === 'hold' || msg.t === 'release') {
      this.o.log.debug({ t: msg.t, ips: msg.ips }, 'held IPs changed');
    } else if (msg.t === 'standdown') {
      this.o.log.info({ held: this.core.held.size }, 'standing down (paths released)');
      this.finish(0);
    }
  }

  private send(sock: Socket, m: GuardMessage): void {
    try {
      sock.write(`${JSON.stringify(m)}\n`);
    } catch {}
  }

  private armIdle(): void {
    if (this.idle) clearTimeout(this.idle);
    this.idle = setTimeout(() => {
      if (this.conns.size === 0 && !this.core.armed && !this.done) {
        this.o.log.info('unarmed and no agent connected: exiting');
        this.finish(0);
      }
    }, this.o.idleMs ?? GUARD_IDLE_MS);
    this.idle.unref();
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    const r = this.core.remaining(monoMs());
    if (r === undefined || this.done) return;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        // After a stall, timers run before the I/O that piled up: let a newer deadline count first.
        setImmediate(() => {
          if (this.done || this.timer) return;
          if (this.core.due(monoMs())) void this.fence('deadline passed without a renewal');
          else this.schedule();
        });
      },
      Math.max(0, r),
    );
  }

  /** SIGKILLs the tgtds (checked in /proc first), drops the held IPs, tells the agent, exits. */
  async fence(reason: string): Promise<void> {
    if (this.done) return;
    this.done = true;
    const t0 = monoMs();
    const lateMs = this.core.deadline === undefined ? undefined : Math.round(t0 - this.core.deadline);
    // First, synchronously: the tgtds reported, then those the state files record.
    const seen = new Set<number>();
    let killed = 0;
    for (const t of [...this.core.tgtds, ...recordedTgtds(join(this.o.runDir, 'tgt'))]) {
      if (seen.has(t.pid)) continue;
      seen.add(t.pid);
      if (!isTgtdFor(cmdlineOf(t.pid), t.ip, t.controlPort)) continue;
      try {
        process.kill(t.pid, 'SIGKILL');
        killed++;
      } catch {}
    }
    const ips = [...this.core.held.values()];
    const drop = this.o.dropIps ?? ((x: HeldIp[]) => new IpRouteNetwork({ log: this.o.log }).dropIps(x));
    try {
      if (ips.length > 0) await drop(ips);
    } catch (e) {
      this.o.log.error({ err: (e as Error).message }, 'dropping IPs failed');
    }
    const tookMs = Math.round(monoMs() - t0);
    this.o.log.error({ reason, lateMs, tookMs, tgtdsKilled: killed, ips: ips.map((h) => h.ip) }, 'guard fenced');
    for (const s of this.conns) this.send(s, { t: 'fenced', reason });
    this.finish(0);
  }

  /** Closes the socket, removes socket and pid file, exits. */
  private finish(code: number): void {
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.idle) clearTimeout(this.idle);
    this.server?.close();
    rmSync(this.socketPath, { force: true });
    try {
      if (readFileSync(this.pidFile, 'utf8').trim() === String(process.pid)) rmSync(this.pidFile, { force: true });
    } catch {}
    for (const s of this.conns) s.end();
    // let the last lines reach the agent (its socket buffer) before the process goes
    setTimeout(() => (this.o.exit ?? process.exit)(code), 50);
  }

  /** SIGTERM/SIGINT: fence if armed and holding something (never leave IPs unguarded), else exit. */
  terminate(sig: string): void {
    if (this.done) return;
    if (this.core.armed && this.core.held.size > 0) void this.fence(`guard got ${sig}`);
    else this.finish(0);
  }
}

/** `portway agent-guard --run-dir DIR`: started by the agent (detached), see the header. */
export async function guardCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { 'run-dir': { type: 'string' } } });
  const runDir = values['run-dir'];
  if (!runDir?.startsWith('/')) throw new Error('agent-guard needs --run-dir ABSOLUTE_DIR');
  const log = createLogger({ base: { mod: 'guard', pid: process.pid } }, pino.destination({ dest: 1, sync: true }));
  const guard = new Guard({ runDir, log });
  if (!(await guard.start())) {
    log.info('another fence guard answers on the socket: exiting');
    process.exit(0);
  }
  process.on('SIGTERM', () => guard.terminate('SIGTERM'));
  process.on('SIGINT', () => guard.terminate('SIGINT'));
  process.on('SIGHUP', () => {});
  process.on('SIGQUIT', () => {});
}
