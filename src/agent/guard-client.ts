/**
 * The agent's side of the fence guard (guard.ts): connects to the guard's socket in the run dir,
 * starting the guard (detached: its own session, so it outlives this process) when none answers, and
 * keeps it informed: IPs held (each before the agent adds it), IPs released (after removal), the tgtds
 * served through, and a deadline after every renewal once the agent feeds it. If the guard goes away
 * it is started again and told everything again.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { type Socket, connect } from 'node:net';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { errText } from '../util/errors.js';
import { GUARD_SOCKET, type GuardMessage, type HeldIp, type HeldTgtd, isHeldIp, monoMs } from './guard.js';

export interface GuardClientOptions {
  /** <stateDir>/run */
  runDir: string;
  /** Where the guard's log goes (<stateDir>/log/guard.log). */
  logFile: string;
  node: string;
  log: Logger;
  /** The guard's command line (default: this node binary and script, `agent-guard --run-dir DIR`). */
  command?: { file: string; args: string[] };
  /** How long an operation waits for the guard to answer before it goes on without it. */
  connectTimeoutMs?: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class GuardClient {
  private sock: Socket | undefined;
  private connecting: Promise<boolean> | undefined;
  private readonly held = new Map<string, HeldIp>();
  private tgtdsText = '[]';
  private tgtds: HeldTgtd[] = [];
  private deadline: number | undefined;
  private ending = false;
  private warnedAt = 0;
  /** The guard's pid and whether an earlier agent had armed it, as it said when this one connected. */
  guardState: { pid: number; armed: boolean; inMs?: number; held: number } | undefined;
  /** The guard fenced (its deadline passed): the agent must consider itself fenced too. */
  onFenced: ((reason: string) => void) | undefined;

  constructor(private readonly o: GuardClientOptions) {}

  private get socketPath(): string {
    return join(this.o.runDir, GUARD_SOCKET);
  }

  /** Connected to the guard (starting it if needed), within connectTimeoutMs; false otherwise. */
  ensure(): Promise<boolean> {
    if (this.sock) return Promise.resolve(true);
    if (this.ending) return Promise.resolve(false);
    this.connecting ??= this.connectLoop().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private tryConnect(): Promise<Socket | undefined> {
    return new Promise((res) => {
      const s = connect(this.socketPath);
      s.once('connect', () => {
        s.removeAllListeners('error');
        res(s);
      });
      s.once('error', () => {
        s.destroy();
        res(undefined);
      });
    });
  }

  private spawnGuard(): ChildProcess | undefined {
    mkdirSync(this.o.runDir, { recursive: true });
    const cmd = this.o.command ?? {
      file: process.execPath,
      args: [...process.execArgv, process.argv[1] ?? '', 'agent-guard', '--run-dir', this.o.runDir],
    };
    const fd = openSync(this.o.logFile, 'a');
    try {
      const child = spawn(cmd.file, cmd.args, { detached: true, stdio: ['ignore', fd, fd], cwd: process.cwd(), env: process.env });
      child.once('error', (e) => this.o.log.error({ err: e.message }, 'fence guard could not be started'));
      child.unref();
      this.o.log.info({ pid: child.pid }, 'fence guard started');
      return child;
    } finally {
      closeSync(fd);
    }
  }

  private async connectLoop(): Promise<boolean> {
    const end = Date.now() + (this.o.connectTimeoutMs ?? 15_000);
    let spawned = false;
    while (!this.ending) {
      const s = await this.tryConnect();
      if (s) {
        if (this.ending) {
          s.destroy();
          return false;
        }
        this.attach(s);
        return true;
      }
      if (!spawned) {
        spawned = true;
        try {
          this.spawnGuard();
        } catch (e) {
          this.o.log.error({ err: errText(e) }, 'fence guard could not be started');
        }
      }
      if (Date.now() > end) {
        this.warn('fence guard not reachable: going on without it');
        // keep trying in the background; operations do not wait again meanwhile
        void sleep(1000).then(() => !this.sock && !this.ending && this.ensure());
        return false;
      }
      await sleep(100);
    }
    return false;
  }

  private warn(msg: string): void {
    if (Date.now() - this.warnedAt < 10_000) return;
    this.warnedAt = Date.now();
    this.o.log.error({ socket: this.socketPath }, msg);
  }

  /** A new connection: hello, then everything the guard must know (a new guard knows nothing). */
  private attach(s: Socket): void {
    this.sock = s;
    s.setEncoding('utf8');
    let buf = '';
    s.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > 1 << 20) buf = '';
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        this.onLine(line);
      }
    });
    s.on('error', () => {});
    s.on('close', () => {
      if (this.sock !== s) return;
      this.sock = undefined;
      if (this.ending) return;
      this.o.log.warn('fence guard connection lost: reconnecting');
      void sleep(200).then(() => this.ensure());
    });
    this.write({ t: 'hello', pid: process.pid, node: this.o.node });
    if (this.held.size) this.write({ t: 'hold', ips: [...this.held.values()] });
    this.write({ t: 'tgtds', tgtds: this.tgtds });
    if (this.deadline !== undefined) this.write({ t: 'deadline', at: this.deadline, inMs: this.deadline - monoMs() });
  }

  private onLine(line: string): void {
    let m: GuardMessage;
    try {
      m = JSON.parse(line) as GuardMessage;
    } catch {
      return;
    }
    if (m.t === 'state') {
      this.guardState = { pid: m.pid, armed: m.armed, held: m.held, ...(m.inMs !== undefined ? { inMs: Math.round(m.inMs) } : {}) };
      this.o.log.info(this.guardState, 'connected to the fence guard');
    } else if (m.t === 'fenced') {
      this.o.log.error({ reason: m.reason }, 'the fence guard fenced this node');
      this.deadline = undefined;
      this.held.clear();
      this.tgtds = [];
      this.tgtdsText = '[]';
      this.onFenced?.(m.reason);
    }
  }

  /** Writes one message; resolves once it is in the kernel's socket buffer (or at once if not connected). */
  private write(m: object): Promise<void> {
    const s = this.sock;
    if (!s) return Promise.resolve();
    return new Promise((res) => {
      try {
        s.write(`${JSON.stringify(m)}\n`, () => res());
      } catch {
        res();
      }
    });
  }

  /** Before an IP is added: the guard must know it before it can be live. */
  async hold(ips: HeldIp[]): Promise<void> {
    const add = ips.filter((h) => isHeldIp(h) && !sameHeld(this.held.get(h.ip), h));
    if (add.length === 0) return;
    for (const h of add) this.held.set(h.ip, h);
    if (!(await this.ensure())) return; // a new connection sends every held IP
    await this.write({ t: 'hold', ips: add });
  }

  /** After IPs are removed from the host. */
  release(ips: string[]): void {
    const gone = ips.filter((ip) => this.held.delete(ip));
    if (gone.length) void this.write({ t: 'release', ips: gone });
  }

  /** Every path IP released (the agent fenced itself: nothing is live). */
  releaseAll(): void {
    this.release([...this.held.keys()]);
  }

  /** The tgtds served through now (sent only when it changed). */
  setTgtds(list: HeldTgtd[]): void {
    const sorted = [...list].sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0));
    const text = JSON.stringify(sorted);
    if (text === this.tgtdsText) return;
    this.tgtdsText = text;
    this.tgtds = sorted;
    void this.write({ t: 'tgtds', tgtds: sorted });
  }

  /** A new deadline (CLOCK_MONOTONIC ms), after a successful renewal under a lease that holds this node's keys. */
  feed(at: number): void {
    this.deadline = at;
    if (!this.sock) {
      void this.ensure();
      return;
    }
    void this.write({ t: 'deadline', at, inMs: at - monoMs() });
  }

  /** Stops feeding (the lease it was for is gone); the guard keeps its last deadline. */
  unfeed(): void {
    this.deadline = undefined;
  }

  /** The agent is stopping: no reconnects from now on. */
  endReconnects(): void {
    this.ending = true;
  }

  /** Paths given back: the guard exits. */
  async standDown(): Promise<void> {
    this.ending = true;
    await this.write({ t: 'standdown' });
    this.sock?.end();
    this.sock = undefined;
  }

  /** Keep-exit: the guard keeps its deadline and IPs, for the next agent to take over (or to fence). */
  close(): void {
    this.ending = true;
    this.sock?.destroy();
    this.sock = undefined;
  }
}

function sameHeld(a: HeldIp | undefined, b: HeldIp): boolean {
  return a !== undefined && a.prefix === b.prefix && a.eth === b.eth;
}
