/** `portway serve` as a child process of a bench: started, ready (its URL), and its log's end for errors. */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';

/** The last 1,500 characters of a log file ('' when it cannot be read). */
export function logTail(file: string): string {
  try {
    return readFileSync(file, 'utf8').slice(-1500);
  } catch {
    return '';
  }
}

/**
 * Starts `portway serve --config config` (nodeArgs: how to run the CLI; extraNodeArgs: node flags first,
 * e.g. --cpu-prof), its stderr appended to logFile. `ready` resolves with its URL once it prints
 * PORTWAY_READY, and rejects with the log's end if it exits first.
 */
export function spawnServe(
  nodeArgs: string[],
  config: string,
  logFile: string,
  o: { extraNodeArgs?: string[]; logLevel?: string } = {},
): { child: ChildProcess; ready: Promise<string> } {
  const fd = openSync(logFile, 'a');
  const child = spawn(process.execPath, [...(o.extraNodeArgs ?? []), ...nodeArgs, 'serve', '--config', config], {
    stdio: ['ignore', 'pipe', fd],
    env: { ...process.env, LOG_LEVEL: o.logLevel ?? 'warn' },
  });
  closeSync(fd);
  const ready = new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /"msg":"PORTWAY_READY","url":"([^"]+)"/.exec(out);
      if (m) resolve(m[1] as string);
    });
    child.on('exit', (code, sig) => reject(new Error(`portway serve exited (${code ?? sig}); its log ends: ${logTail(logFile)}`)));
  });
  ready.catch(() => undefined);
  return { child, ready };
}
