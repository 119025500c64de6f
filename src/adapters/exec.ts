import { execFile } from 'node:child_process';

export interface ExecResult {
  stdout: string;
  stderr: string;
}

/** A command that exited non-zero, timed out, or could not start. */
export class ExecError extends Error {
  constructor(
    readonly file: string,
    readonly args: readonly string[],
    /** Exit code; null when killed by a signal or not started. */
    readonly exitCode: number | null,
    readonly stderr: string,
    readonly stdout: string,
    readonly timedOut: boolean,
  ) {
    super(`${file} ${args.join(' ')} failed (${timedOut ? 'timed out' : `exit ${exitCode}`}): ${stderr.trim().slice(0, 500)}`);
    this.name = 'ExecError';
  }
}

export interface ExecOptions {
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  input?: string;
}

/** Runs a program with an argument array (never a shell). */
export function run(file: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args as string[],
      { timeout: opts.timeoutMs ?? 30_000, maxBuffer: 64 * 1024 * 1024, env: opts.env ?? process.env, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        if (err) {
          const e = err as NodeJS.ErrnoException & { code?: number | string; killed?: boolean };
          const exitCode = typeof e.code === 'number' ? e.code : null;
          const timedOut = e.killed === true && exitCode === null;
          const msg = typeof e.code === 'string' ? `${e.code} ${stderr}` : stderr;
          reject(new ExecError(file, args, exitCode, msg, stdout, timedOut));
          return;
        }
        resolve({ stdout, stderr });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}
