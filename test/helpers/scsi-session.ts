/**
 * One iSCSI session held open by tools/pw-scsi (built to dist/bin/pw-scsi by scripts/setup.sh): SCSI
 * commands one line at a time, one JSON answer each. A host's view of a disk for the reservation tests.
 *
 *   const a = await ScsiSession.open(url, { initiator: 'iqn.1994-05.com.example:a' });
 *   await a.send('reserve6');  // { cmd: 'reserve6', ok: true, status: 'GOOD' }
 *   await a.close();
 *
 * The session logs in without the TEST UNIT READY libiscsi's full connect adds (so the first command sees
 * the target's unit attention) and never reconnects by itself: after a transport failure every command
 * answers status TRANSPORT until the test opens a new session.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { REPO } from './services.js';

export const PW_SCSI = join(REPO, 'dist', 'bin', 'pw-scsi');

/** SCSI status names as the target answered them, or the tool's own TRANSPORT / USAGE. */
export type ScsiStatus =
  | 'GOOD'
  | 'CHECK_CONDITION'
  | 'CONDITION_MET'
  | 'BUSY'
  | 'RESERVATION_CONFLICT'
  | 'TASK_SET_FULL'
  | 'ACA_ACTIVE'
  | 'TASK_ABORTED'
  | 'TMF_REJECTED'
  | 'TRANSPORT'
  | 'USAGE';

export interface ScsiSense {
  /** e.g. UNIT_ATTENTION, ILLEGAL_REQUEST, NOT_READY */
  key: string;
  asc: number;
  ascq: number;
  /** libiscsi's name for asc/ascq, e.g. BUS_RESET for 29h/00h */
  ascq_text: string;
}

/** One answer of pw-scsi (the JSON line it prints). */
export interface ScsiResult {
  cmd: string;
  ok: boolean;
  status: ScsiStatus;
  sense?: ScsiSense;
  /** TRANSPORT / USAGE: what went wrong */
  error?: string;
  /** the implicit command that failed (read/write: the lazy READ CAPACITY) */
  during?: string;
  /** connect: connect | login | setup | chap */
  stage?: string;
  // inquiry
  vendor?: string;
  product?: string;
  serial?: string;
  device_type?: number;
  // readcap
  block_size?: number;
  blocks?: number;
  // read / write (and readcap: bytes)
  lba?: number;
  bytes?: number;
  /** read: hex of the first 16 bytes */
  head?: string;
  /** read / write: CRC-32 (IEEE) of the data, 8 hex digits */
  crc32?: string;
  // prin-keys / prin-reservation
  generation?: number;
  /** registered keys as 0x-hex strings */
  keys?: string[];
  reserved?: boolean;
  /** prin-reservation: the holder's key (0x-hex) */
  key?: string;
  /** prin-reservation: we | ea | we_ro | ea_ro | we_ar | ea_ar */
  type?: string;
  /** lun-reset / target-reset: the task management response code */
  response?: number;
}

export interface ScsiSessionOptions {
  initiator: string;
  /** run the tool inside this network namespace (ip netns exec) */
  netns?: string;
  user?: string;
  password?: string;
  /** per request, ms (default 20 000); the tool gives up on the target 2 s before */
  timeoutMs?: number;
}

export class ScsiSession {
  private readonly lines: string[] = [];
  private waiter: ((line: string | undefined) => void) | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private stderr = '';
  private exited = false;
  private readonly exit: Promise<void>;

  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly what: string,
    private readonly timeoutMs: number,
  ) {
    this.exit = new Promise((res) => {
      child.once('exit', () => {
        this.exited = true;
        res();
      });
      child.once('error', (e) => {
        this.stderr += `\n${e.message}`;
        this.exited = true;
        res();
      });
    });
    this.exit.then(() => this.deliver(undefined));
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      this.stderr = (this.stderr + d).slice(-4000);
    });
    const rl = createInterface({ input: child.stdout });
    rl.on('line', (line) => this.deliver(line));
  }

  /** The tool's pid (ip netns exec execs it, so it is also the namespace-side pid). */
  get pid(): number {
    return this.child.pid as number;
  }

  /**
   * Logs in to url (iscsi://IP[:PORT]/TARGET-IQN/LUN) as opts.initiator and holds the session. Rejects
   * with the tool's connect answer when the connection or the login fails.
   */
  static async open(url: string, opts: ScsiSessionOptions): Promise<ScsiSession> {
    try {
      accessSync(PW_SCSI, constants.X_OK);
    } catch {
      throw new Error(`${PW_SCSI} is missing: run scripts/setup.sh (it builds tools/pw-scsi; needs libiscsi-dev and gcc)`);
    }
    if ((opts.user === undefined) !== (opts.password === undefined)) throw new Error('ScsiSession: user and password go together');
    const timeoutMs = opts.timeoutMs ?? 20_000;
    const toolArgs = ['--initiator', opts.initiator, '--timeout', String(Math.max(1, Math.floor(timeoutMs / 1000) - 2))];
    if (opts.user !== undefined && opts.password !== undefined) toolArgs.push('--user', opts.user, '--password', opts.password);
    toolArgs.push(url);
    const [file, args] = opts.netns ? ['ip', ['netns', 'exec', opts.netns, PW_SCSI, ...toolArgs]] : [PW_SCSI, toolArgs];
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const s = new ScsiSession(child, `pw-scsi ${opts.initiator}${opts.netns ? ` (netns ${opts.netns})` : ''} -> ${url}`, timeoutMs);
    let first: ScsiResult;
    try {
      first = await s.answer('connect');
    } catch (e) {
      await s.kill();
      throw e;
    }
    if (!first.ok) {
      await s.kill();
      throw new Error(`${s.what}: ${first.stage ?? 'connect'} failed: ${first.error ?? first.status}`);
    }
    return s;
  }

  /** Sends one command line (see tools/pw-scsi/pw-scsi.c) and returns its answer. Requests run one at a time. */
  send(line: string): Promise<ScsiResult> {
    if (/[\r\n\0]/.test(line)) return Promise.reject(new Error(`ScsiSession.send: one line without CR/LF/NUL, got ${JSON.stringify(line)}`));
    if (line.trim() === '') return Promise.reject(new Error('ScsiSession.send: empty command'));
    const run = this.queue.then(async () => {
      if (this.exited) throw new Error(`${this.what} has exited${this.stderrTail()}`);
      this.child.stdin.write(`${line}\n`);
      return this.answer(line.trim().split(/\s+/)[0] as string);
    });
    this.queue = run.catch(() => {});
    return run;
  }

  /** Logs out (quit) and waits for the tool; SIGKILL by pid if it does not end within 3 s. */
  async close(): Promise<void> {
    await this.queue;
    if (!this.exited) {
      this.child.stdin.end('quit\n');
      await Promise.race([this.exit, new Promise((r) => setTimeout(r, 3000).unref())]);
    }
    await this.kill();
  }

  private async kill(): Promise<void> {
    if (!this.exited && this.child.pid !== undefined) {
      try {
        process.kill(this.child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await this.exit;
  }

  private stderrTail(): string {
    const t = this.stderr.trim();
    return t ? `; stderr: ${t.slice(-800)}` : '';
  }

  private deliver(line: string | undefined): void {
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w(line);
    } else if (line !== undefined) {
      this.lines.push(line);
    }
  }

  private nextLine(): Promise<string | undefined> {
    const queued = this.lines.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.exited) return Promise.resolve(undefined);
    return new Promise((res) => {
      this.waiter = res;
    });
  }

  /** The next answer, which must be for cmd; a timeout or an exit is an error (and ends the tool). */
  private async answer(cmd: string): Promise<ScsiResult> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((res) => {
      timer = setTimeout(() => res('timeout'), this.timeoutMs);
    });
    let line: string | undefined | 'timeout';
    try {
      line = await Promise.race([this.nextLine(), timeout]);
    } finally {
      clearTimeout(timer);
    }
    if (line === 'timeout') {
      this.waiter = undefined;
      await this.kill();
      throw new Error(`${this.what}: no answer to "${cmd}" within ${this.timeoutMs} ms (tool killed)${this.stderrTail()}`);
    }
    if (line === undefined) {
      await this.exit;
      const { exitCode, signalCode } = this.child;
      throw new Error(`${this.what} exited (code ${exitCode}, signal ${signalCode}) before answering "${cmd}"${this.stderrTail()}`);
    }
    let res: ScsiResult;
    try {
      res = JSON.parse(line) as ScsiResult;
    } catch {
      throw new Error(`${this.what}: not a JSON answer to "${cmd}": ${line}`);
    }
    if (res.cmd !== cmd && res.status !== 'USAGE') throw new Error(`${this.what}: answer for "${res.cmd}" where "${cmd}" was expected: ${line}`);
    return res;
  }
}
