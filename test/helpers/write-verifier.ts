/**
 * The write verifier tools/pw-verify (built to dist/bin/pw-verify by scripts/setup.sh): sequence-stamped
 * writes into a region of a disk through all its paths (reconnecting like a multipath host), then a
 * read-back that counts lost and stale acknowledged writes. See the header of tools/pw-verify/pw-verify.c
 * for the definitions, the block layout and the state file.
 *
 *   const r = await runVerifier({ urls: [url1, url2], seconds: 5, state: '/tmp/x.state' });
 *   assert.equal(r.lost + r.stale, 0);
 *
 *   const v = startVerifier({ urls, seconds: 0, netns: 'client' });  // in the background
 *   await v.waitFor(/acked [1-9]/);                                  // progress lines on stderr
 *   ... freeze a node, fail over ...
 *   const r = await v.stop();                                        // SIGTERM: drain, read back, result
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { REPO } from './services.js';

export const PW_VERIFY = join(REPO, 'dist', 'bin', 'pw-verify');

export interface VerifierOptions {
  /** the disk's paths, iscsi://IP[:PORT]/TARGET-IQN/LUN, tried in this order */
  urls: string[];
  initiator?: string;
  user?: string;
  password?: string;
  /** run the tool inside this network namespace (ip netns exec) */
  netns?: string;
  blocks?: number;
  lbaStart?: number;
  /** expected block size (the start fails when READ CAPACITY(16) says otherwise) */
  blockSize?: number;
  queueDepth?: number;
  /** how long to write; 0 = until stop() (default 10) */
  seconds?: number;
  maxWrites?: number;
  cmdTimeoutS?: number;
  giveUpS?: number;
  seed?: number;
  fua?: boolean;
  /** the state file: written after writing; read first by continue and verifyOnly */
  state?: string;
  continue?: boolean;
  verifyOnly?: boolean;
  /** the tool is SIGKILLed after this long (default: seconds + give-up + 120 s; with seconds 0, none) */
  killAfterMs?: number;
  /** every stderr line (progress once a second, session events) */
  onLog?: (line: string) => void;
}

export interface VerifierProblem {
  lba: number;
  kind: 'lost' | 'stale';
  reason: string;
  /** null: no valid stamp of this run and LBA on the disk */
  on_disk_seq: number | null;
  acked_seq: number;
  prev_acked_seq: number;
}

/** The tool's JSON result line, plus how the process ended. */
export interface VerifierResult {
  ok: boolean;
  mode: 'write' | 'verify-only';
  run_id: string;
  seed: number | null;
  block_size: number;
  lba_start: number;
  blocks: number;
  queue_depth: number;
  seconds: number;
  writes_issued: number;
  acked_writes: number;
  acked_writes_total: number;
  in_doubt_writes: number;
  ua_retries: number;
  busy_retries: number;
  write_errors: number;
  reconnects: number;
  /** the path used last */
  url: string | null;
  blocks_checked: number;
  blocks_acked: number;
  in_doubt_landed: number;
  lost: number;
  stale: number;
  /** the first 32 */
  problems: VerifierProblem[];
  state_file: string | null;
  /** usage | state | connect | readcap | write | verify, when the run failed */
  stage?: string;
  error?: string;
  /** 0 clean, 1 lost/stale found, 2 usage or no path at the start, 3 the run could not finish */
  exitCode: number | null;
  signal: string | null;
  /** the tail of stderr */
  stderr: string;
}

export interface BackgroundVerifier {
  /** the tool's pid (ip netns exec execs it, so also the namespace-side pid) */
  readonly pid: number;
  /** stderr lines so far */
  readonly lines: readonly string[];
  /** resolves with the first stderr line (so far or to come) matching re; rejects when the tool exits first or after timeoutMs */
  waitFor(re: RegExp, timeoutMs?: number): Promise<string>;
  /** SIGTERM: the tool stops issuing, drains, reads back and prints its result */
  stop(): Promise<VerifierResult>;
  /** the result once the tool ends by itself (or after stop()) */
  readonly result: Promise<VerifierResult>;
}

function toolArgs(o: VerifierOptions): string[] {
  if (o.urls.length === 0) throw new Error('runVerifier: at least one url');
  if ((o.user === undefined) !== (o.password === undefined)) throw new Error('runVerifier: user and password go together');
  const a: string[] = [];
  for (const u of o.urls) a.push('--url', u);
  const num = (flag: string, v: number | undefined) => {
    if (v === undefined) return;
    if (!Number.isSafeInteger(v) || v < 0) throw new Error(`runVerifier: ${flag} must be a non-negative integer, got ${v}`);
    a.push(flag, String(v));
  };
  if (o.initiator !== undefined) a.push('--initiator', o.initiator);
  if (o.user !== undefined && o.password !== undefined) a.push('--user', o.user, '--password', o.password);
  num('--blocks', o.blocks);
  num('--lba-start', o.lbaStart);
  num('--block-size', o.blockSize);
  num('--queue-depth', o.queueDepth);
  num('--seconds', o.seconds);
  num('--max-writes', o.maxWrites);
  num('--cmd-timeout', o.cmdTimeoutS);
  num('--give-up', o.giveUpS);
  num('--seed', o.seed);
  if (o.fua) a.push('--fua');
  if (o.state !== undefined) a.push('--state', o.state);
  if (o.continue) a.push('--continue');
  if (o.verifyOnly) a.push('--verify-only');
  return a;
}

/** Starts pw-verify in the background. */
export function startVerifier(opts: VerifierOptions): BackgroundVerifier {
  try {
    accessSync(PW_VERIFY, constants.X_OK);
  } catch {
    throw new Error(`${PW_VERIFY} is missing: run scripts/setup.sh (it builds tools/pw-verify; needs libiscsi-dev and gcc)`);
  }
  const args = toolArgs(opts);
  const [file, argv] = opts.netns ? ['ip', ['netns', 'exec', opts.netns, PW_VERIFY, ...args]] : [PW_VERIFY, args];
  const child: ChildProcess = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  const what = `pw-verify${opts.netns ? ` (netns ${opts.netns})` : ''} ${opts.urls.join(' ')}`;
  const lines: string[] = [];
  const waiters: { re: RegExp; res: (l: string) => void }[] = [];
  let stdout = '';
  let stderrTail = '';
  let exited = false;
  let exitListeners: (() => void)[] = [];

  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (d: string) => {
    stdout += d;
  });
  if (child.stderr) {
    createInterface({ input: child.stderr }).on('line', (line) => {
      lines.push(line);
      if (lines.length > 5000) lines.splice(0, 1000);
      stderrTail = `${stderrTail}${line}\n`.slice(-4000);
      opts.onLog?.(line);
      for (let i = waiters.length - 1; i >= 0; i--) {
        const w = waiters[i] as (typeof waiters)[number];
        if (w.re.test(line)) {
          waiters.splice(i, 1);
          w.res(line);
        }
      }
    });
  }

  const seconds = opts.seconds ?? 10;
  const killAfter = opts.killAfterMs ?? (seconds > 0 ? (seconds + (opts.giveUpS ?? 60) + 120) * 1000 : 0);
  const killTimer = killAfter > 0 ? setTimeout(() => kill('SIGKILL'), killAfter) : undefined;
  killTimer?.unref();

  function kill(sig: NodeJS.Signals): void {
    if (exited || child.pid === undefined) return;
    try {
      process.kill(child.pid, sig);
    } catch {
      // already gone
    }
  }

  const result = new Promise<VerifierResult>((resolve, reject) => {
    let spawnError: Error | undefined;
    child.once('error', (e) => {
      spawnError = e;
    });
    child.once('close', (code, signal) => {
      exited = true;
      clearTimeout(killTimer);
      for (const l of exitListeners) l();
      exitListeners = [];
      const last = stdout.trim().split('\n').pop() ?? '';
      let parsed: Omit<VerifierResult, 'exitCode' | 'signal' | 'stderr'>;
      try {
        parsed = JSON.parse(last);
      } catch {
        reject(
          new Error(
            `${what}: no result line (exit ${code}, signal ${signal}${spawnError ? `, ${spawnError.message}` : ''}); stdout: ${stdout.slice(-500)}; stderr: ${stderrTail.slice(-1500)}`,
          ),
        );
        return;
      }
      resolve({ ...parsed, exitCode: code, signal, stderr: stderrTail });
    });
  });
  result.catch(() => {}); // a caller that only uses stop() still sees the rejection there

  return {
    get pid() {
      return child.pid as number;
    },
    lines,
    result,
    waitFor(re: RegExp, timeoutMs = 30_000): Promise<string> {
      const seen = lines.find((l) => re.test(l));
      if (seen !== undefined) return Promise.resolve(seen);
      if (exited) return Promise.reject(new Error(`${what} exited before a line matching ${re}; stderr: ${stderrTail.slice(-1500)}`));
      return new Promise((res, rej) => {
        const done = () => {
          clearTimeout(timer);
          const i = waiters.indexOf(w);
          if (i >= 0) waiters.splice(i, 1);
          exitListeners = exitListeners.filter((l) => l !== onExit);
        };
        const w = {
          re,
          res: (l: string) => {
            done();
            res(l);
          },
        };
        const onExit = () => {
          done();
          rej(new Error(`${what} exited before a line matching ${re}; stderr: ${stderrTail.slice(-1500)}`));
        };
        const timer = setTimeout(() => {
          done();
          rej(new Error(`${what}: no line matching ${re} within ${timeoutMs} ms; stderr: ${stderrTail.slice(-1500)}`));
        }, timeoutMs);
        waiters.push(w);
        exitListeners.push(onExit);
      });
    },
    async stop(): Promise<VerifierResult> {
      kill('SIGTERM');
      return result;
    },
  };
}

/** Runs pw-verify to its end and returns its result (also when it found lost/stale writes: see exitCode). */
export function runVerifier(opts: VerifierOptions): Promise<VerifierResult> {
  return startVerifier(opts).result;
}

// ---- the state file and the block stamps ------------------------------------------------------

export interface VerifierBlockRecord {
  /** highest acknowledged sequence (0: none) */
  acked: number;
  /** the acknowledged sequence before it (0: none) */
  prev: number;
  /** in-doubt sequences above acked */
  inDoubt: number[];
}

export interface VerifierState {
  runId: string;
  blockSize: number;
  lbaStart: number;
  blocks: number;
  nextSeq: number;
  ackedWrites: number;
  /** by LBA */
  records: Map<number, VerifierBlockRecord>;
}

/** Reads a state file written by pw-verify --state. */
export function readVerifierState(file: string): VerifierState {
  const lines = readFileSync(file, 'utf8').split('\n');
  const bad = (why: string): never => {
    throw new Error(`${file}: not a pw-verify state file (${why})`);
  };
  if (lines[0] !== 'pw-verify-state 1') bad('header');
  const kv = (i: number, key: string, re: RegExp): string => {
    const m = new RegExp(`^${key} (${re.source})$`).exec(lines[i] ?? '');
    return m ? (m[1] as string) : bad(`line ${i + 1}: ${key}`);
  };
  const n = (i: number, key: string) => Number(kv(i, key, /\d+/));
  const st: VerifierState = {
    runId: kv(1, 'run_id', /[0-9a-f]{16}/),
    blockSize: n(2, 'block_size'),
    lbaStart: n(3, 'lba_start'),
    blocks: n(4, 'blocks'),
    nextSeq: n(5, 'next_seq'),
    ackedWrites: n(6, 'acked_writes'),
    records: new Map(),
  };
  let i = 7;
  for (; i < lines.length && lines[i] !== 'end'; i++) {
    const m = /^b (\d+) (\d+) (\d+) (-|\d+(?:,\d+)*)$/.exec(lines[i] as string);
    if (!m) bad(`line ${i + 1}`);
    const [, lba, acked, prev, doubt] = m as RegExpExecArray;
    st.records.set(Number(lba), { acked: Number(acked), prev: Number(prev), inDoubt: doubt === '-' ? [] : (doubt as string).split(',').map(Number) });
  }
  if (lines[i] !== 'end') bad('no end line');
  return st;
}

/** The stamp of one block as pw-verify wrote it (magic checked; the CRC is the tool's business), or undefined. */
export function readStamp(block: Buffer): { lba: number; seq: number; runId: string } | undefined {
  if (block.length < 44 || block.subarray(0, 8).toString('latin1') !== 'PWVERIFY') return undefined;
  return {
    lba: Number(block.readBigUInt64LE(8)),
    seq: Number(block.readBigUInt64LE(16)),
    runId: block.readBigUInt64LE(24).toString(16).padStart(16, '0'),
  };
}
