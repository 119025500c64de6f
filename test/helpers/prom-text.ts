/**
 * A small parser of the Prometheus text exposition format (version 0.0.4), for tests that read
 * /metrics: HELP and TYPE lines, samples with labels (escapes \\ \" \n), values incl. +Inf/NaN (any case).
 * Throws on a line that is not one of these (a malformed exposition fails the test).
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  types: Map<string, string>;
  help: Map<string, string>;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;

export function parsePromText(text: string): Exposition {
  const out: Exposition = { types: new Map(), help: new Map(), samples: [] };
  for (const [i, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta) {
      (meta[1] === 'TYPE' ? out.types : out.help).set(meta[2] as string, meta[3] as string);
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = NAME.exec(line);
    if (!m) throw new Error(`line ${i + 1}: no metric name: ${line}`);
    const name = m[0];
    let rest = line.slice(name.length);
    const labels: Record<string, string> = {};
    if (rest.startsWith('{')) {
      rest = rest.slice(1);
      while (!rest.startsWith('}')) {
        const l = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(rest);
        if (!l) throw new Error(`line ${i + 1}: bad label: ${line}`);
        rest = rest.slice(l[0].length);
        let v = '';
        for (;;) {
          const c = rest[0];
          if (c === undefined) throw new Error(`line ${i + 1}: unterminated label value: ${line}`);
          rest = rest.slice(1);
          if (c === '"') break;
          if (c === '\\') {
            const e = rest[0];
            rest = rest.slice(1);
            v += e === 'n' ? '\n' : (e ?? '');
          } else v += c;
        }
        labels[l[1] as string] = v;
        if (rest.startsWith(',')) rest = rest.slice(1);
      }
      rest = rest.slice(1);
    }
    const v = /^ (\S+)(?: -?\d+)?$/.exec(rest);
    if (!v) throw new Error(`line ${i + 1}: bad value: ${line}`);
    // As Prometheus reads them (Go's ParseFloat): NaN and Inf in any case.
    const raw = (v[1] as string).toLowerCase();
    const value =
      raw === '+inf' || raw === 'inf' ? Number.POSITIVE_INFINITY : raw === '-inf' ? Number.NEGATIVE_INFINITY : raw === 'nan' ? Number.NaN : Number(raw);
    if (Number.isNaN(value) && raw !== 'nan') throw new Error(`line ${i + 1}: bad number: ${line}`);
    out.samples.push({ name, labels, value });
  }
  return out;
}

/** The value of the one sample named `name` whose labels include `labels`; undefined when none. */
export function sampleValue(e: Exposition, name: string, labels: Record<string, string> = {}): number | undefined {
  const found = e.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length > 1) throw new Error(`${name} ${JSON.stringify(labels)}: ${found.length} samples`);
  return found[0]?.value;
}
