/** Numbers: samples, percentiles, growth, formatting. */

export interface Summary {
  n: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentile of ascending samples (p in 0..100). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] as number;
}

export function summarize(samples: readonly number[]): Summary {
  const s = [...samples].sort((a, b) => a - b);
  const sum = s.reduce((a, b) => a + b, 0);
  return {
    n: s.length,
    min: s[0] ?? Number.NaN,
    p50: percentile(s, 50),
    p90: percentile(s, 90),
    p99: percentile(s, 99),
    max: s[s.length - 1] ?? Number.NaN,
    mean: s.length ? sum / s.length : Number.NaN,
  };
}

export function median(samples: readonly number[]): number {
  return percentile(
    [...samples].sort((a, b) => a - b),
    50,
  );
}

/**
 * Growth exponent k of t ~ n^k between two points: 1 = linear, 2 = quadratic, 0 = flat.
 */
export function growthExponent(n1: number, t1: number, n2: number, t2: number): number {
  return Math.log(t2 / t1) / Math.log(n2 / n1);
}

/** Milliseconds, 3 significant digits; below 1 ms in µs. */
export function ms(v: number): string {
  if (!Number.isFinite(v)) return 'n/a';
  if (v < 1) return `${(v * 1000).toPrecision(3)} µs`;
  if (v < 1000) return `${v.toPrecision(3)} ms`;
  return `${(v / 1000).toPrecision(3)} s`;
}

/** Microseconds with 3 significant digits. */
export function us(vMs: number): string {
  return Number.isFinite(vMs) ? `${(vMs * 1000).toPrecision(3)} µs` : 'n/a';
}

export function ratio(v: number, digits = 2): string {
  return Number.isFinite(v) ? `${v.toFixed(digits)}×` : 'n/a';
}

export function pct(v: number): string {
  return Number.isFinite(v) ? `${(v * 100).toFixed(0)}%` : 'n/a';
}

export function num(v: number, digits = 0): string {
  return Number.isFinite(v) ? v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : 'n/a';
}

export function mib(bytes: number): string {
  return Number.isFinite(bytes) ? `${(bytes / 1024 / 1024).toFixed(1)} MiB` : 'n/a';
}

export const now = (): number => performance.now();

/** Runs fn repeatedly: at least minIter times and minMs long (at most maxIter); returns per-call ms. */
export async function sample(fn: () => Promise<unknown> | unknown, o: { minIter: number; minMs: number; maxIter: number; warmup?: number }): Promise<number[]> {
  for (let i = 0; i < (o.warmup ?? 2); i++) await fn();
  const out: number[] = [];
  const start = now();
  while (out.length < o.maxIter && (out.length < o.minIter || now() - start < o.minMs)) {
    const t0 = now();
    await fn();
    out.push(now() - t0);
  }
  return out;
}

/**
 * ms per call of a synchronous fn: the fastest of `rounds` rounds, each a tight loop of about
 * budgetMs / rounds. Other processes on the machine only ever add time, so the fastest round is the
 * steadiest estimate of the code's own cost.
 */
export function perCall(fn: () => unknown, budgetMs: number, rounds = 5, minIter = 3): number {
  fn();
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < rounds; r++) {
    let n = 0;
    const start = now();
    while (n < minIter || now() - start < budgetMs / rounds) {
      fn();
      n++;
    }
    best = Math.min(best, (now() - start) / n);
  }
  return best;
}
