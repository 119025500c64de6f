/** Small async helpers. */

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs fn over items with at most `limit` in flight; settles every item. */
export async function mapSettled<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<PromiseSettledResult<R>[]> {
  const out: PromiseSettledResult<R>[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      try {
        out[i] = { status: 'fulfilled', value: await fn(items[i] as T) };
      } catch (reason) {
        out[i] = { status: 'rejected', reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** A mutex: run() calls execute one at a time, in call order. */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => {});
    return next;
  }
}

/** Coalesces triggers: while a run is going, further triggers cause exactly one more run after it. */
export class Coalescer {
  private running = false;
  private again = false;
  private waiters: (() => void)[] = [];

  constructor(
    private readonly fn: () => Promise<void>,
    private readonly onError: (e: unknown) => void,
  ) {}

  trigger(): Promise<void> {
    const done = new Promise<void>((r) => this.waiters.push(r));
    if (this.running) this.again = true;
    else void this.loop();
    return done;
  }

  private async loop(): Promise<void> {
    this.running = true;
    do {
      this.again = false;
      const waiters = this.waiters;
      this.waiters = [];
      try {
        await this.fn();
      } catch (e) {
        this.onError(e);
      }
      for (const w of waiters) w();
    } while (this.again || this.waiters.length > 0);
    this.running = false;
  }
}

/** One Mutex per key, dropped when idle. */
export class KeyedMutex {
  private tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => {});
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return next;
  }
}
