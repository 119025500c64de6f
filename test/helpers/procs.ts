/** Process checks shared by the tests: by PID only, from /proc (never by name). */
import { readFileSync } from 'node:fs';

/** Is pid alive (and not a zombie waiting to be reaped)? */
export function alive(pid: number): boolean {
  try {
    const st = /^State:\s+([A-Z])/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return st !== null && st[1] !== 'Z';
  } catch {
    return false;
  }
}
