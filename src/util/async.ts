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

/**
 * Gathers the calls made in one event-loop turn into one batch: `add(item)` resolves with the batch
 * function's result for that item. Many callers that each need a program run (an `ip addr add` per
 * path IP of 16 disks served at once) share one program run instead of starting one each.
 * `run(items)` returns one result per item, in order: a value, or an Error for that item alone.
 */
export class TurnBatcher<T, R> {
  private pending: { item: T; resolve: (r: R) => void; reject: (e: unknown) => void }[] = [];

  constructor(private readonly run: (items: T[]) => Promise<(R | Error)[]>) {}

  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      if (this.pending.push({ item, resolve, reject }) === 1) setImmediate(() => void this.flush());
    });
  }

  private async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    try {
      const out = await this.run(batch.map((b) => b.item));
      batch.forEach((b, i) => {
        const r = out[i];
        if (r instanceof Error) b.reject(r);
        else b.resolve(r as R);
      });
    } catch (e) {
      for (const b of batch) b.reject(e);
    }
  }
}
