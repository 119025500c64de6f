/** Polling in tests: the one helper for every "try until it holds, fail after a bound" loop. */

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface WaitOptions {
  /** What is awaited, named in the timeout error. */
  what?: string;
  /** Give up after this long (default 10 s). */
  timeoutMs?: number;
  /** Pause between tries (default 50 ms). */
  intervalMs?: number;
  /** Appended to the timeout error, e.g. the last state seen; called once, at the timeout. */
  detail?: () => string;
  /**
   * Errors of fn that mean "not yet" (a store just back, a process still starting): retried until the
   * timeout, the last one's message appended to the timeout error. Any other error fails at once.
   * Default: every error fails at once.
   */
  retry?: (e: unknown) => boolean;
}

/** The error waitFor throws at its bound (any other error is fn's own). */
export class WaitTimeout extends Error {}

type Done<T> = Exclude<T, undefined | false>;

/**
 * Calls fn until it returns something other than undefined or false, and returns that; throws
 * `timed out after <timeoutMs> ms waiting for <what>[: <detail>]` once timeoutMs has passed.
 */
export async function waitFor<T>(fn: () => T | Promise<T>, o?: WaitOptions): Promise<Done<T>>;
/**
 * @deprecated the positional form, kept for files being rewritten (test/integration/tgt-driver.test.ts);
 * use waitFor(fn, { what, timeoutMs, intervalMs }).
 */
export async function waitFor<T>(what: string, fn: () => T | Promise<T>, timeoutMs?: number, intervalMs?: number): Promise<Done<T>>;
export async function waitFor<T>(
  a: string | (() => T | Promise<T>),
  b?: WaitOptions | (() => T | Promise<T>),
  timeoutMs?: number,
  intervalMs?: number,
): Promise<Done<T>> {
  if (typeof a === 'string')
    return poll(b as () => T | Promise<T>, { what: a, ...(timeoutMs !== undefined ? { timeoutMs } : {}), ...(intervalMs !== undefined ? { intervalMs } : {}) });
  return poll(a, (b as WaitOptions | undefined) ?? {});
}

async function poll<T>(fn: () => T | Promise<T>, o: WaitOptions): Promise<Done<T>> {
  const timeoutMs = o.timeoutMs ?? 10_000;
  const end = Date.now() + timeoutMs;
  let lastError: string | undefined;
  for (;;) {
    try {
      const v = await fn();
      lastError = undefined;
      if (v !== undefined && v !== false) return v as Done<T>;
    } catch (e) {
      if (!o.retry?.(e)) throw e;
      lastError = e instanceof Error ? e.message : String(e);
    }
    if (Date.now() > end) {
      const detail = [o.detail?.(), lastError === undefined ? undefined : `last error: ${lastError}`].filter((x) => x !== undefined);
      throw new WaitTimeout(`timed out after ${timeoutMs} ms waiting for ${o.what ?? 'a condition'}${detail.length ? `: ${detail.join('; ')}` : ''}`);
    }
    await sleep(o.intervalMs ?? 50);
  }
}
