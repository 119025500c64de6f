/** Processes: memory and CPU from /proc, and programs run for a fixed time. */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** VmRSS of a process in bytes (undefined when it is gone). */
export function rssBytes(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

export interface MemDetail {
  rss: number;
  /** Proportional set size: shared pages divided among their users (sums correctly over processes). */
  pss: number;
  /** Pages only this process has (what it really costs). */
  privateBytes: number;
  threads: number;
}

export function memDetail(pid: number): MemDetail | undefined {
  try {
    const roll = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (re: RegExp, text: string) => Number(re.exec(text)?.[1] ?? 0) * 1024;
    return {
      rss: kb(/^VmRSS:\s+(\d+) kB/m, status),
      pss: kb(/^Pss:\s+(\d+) kB/m, roll),
      privateBytes: kb(/^Private_Clean:\s+(\d+) kB/m, roll) + kb(/^Private_Dirty:\s+(\d+) kB/m, roll),
      threads: Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? 0),
    };
  } catch {
    return undefined;
  }
}

const TICK = 100; // USER_HZ on Linux

/** CPU seconds used by a process (user + system), and by its waited-for children. */
export function cpuSeconds(pid: number): { self: number; children: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields after the comm: state(3) ... utime(14) stime(15) cutime(16) cstime(17), 1-based from pid
    const n = (i: number) => Number(f[i - 3]);
    return { self: (n(14) + n(15)) / TICK, children: (n(16) + n(17)) / TICK };
  } catch {
    return undefined;
  }
}

export interface Timed {
  stdout: string;
  stderr: string;
  code: number | null;
  /** Seconds from start to exit. */
  seconds: number;
}

/**
 * Runs a program for at most `seconds` (then SIGINT, and SIGKILL 5 s later), or until it exits.
 * onLine sees stdout and stderr line by line (\r or \n), as they come.
 */
export function runFor(cmd: string, args: string[], seconds: number, o: { onLine?: (line: string) => void; env?: NodeJS.ProcessEnv } = {}): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: o.env ?? process.env });
    let stdout = '';
    let stderr = '';
    let partial = '';
    const feed = (chunk: string) => {
      if (!o.onLine) return;
      const parts = (partial + chunk).split(/[\r\n]/);
      partial = parts.pop() ?? '';
      for (const p of parts) if (p.trim() !== '') o.onLine(p);
    };
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      feed(d);
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      feed(d);
    });
    const stop = setTimeout(() => {
      child.kill('SIGINT');
      setTimeout(() => child.kill('SIGKILL'), 5000).unref();
    }, seconds * 1000);
    child.on('error', (e) => {
      clearTimeout(stop);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(stop);
      if (partial.trim() !== '' && o.onLine) o.onLine(partial);
      resolve({ stdout, stderr, code, seconds: (performance.now() - start) / 1000 });
    });
  });
}
