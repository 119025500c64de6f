/** What a bench section hands back, and how the run prints it (console) and records it (markdown). */

export interface Table {
  title?: string;
  head: string[];
  rows: (string | number)[][];
}

export interface Section {
  id: string;
  title: string;
  /** ok, skipped (a tool or service is missing) or failed (an error; the run goes on). */
  status: 'ok' | 'skipped' | 'failed';
  seconds: number;
  /** One-line figures for the summary at the top of RESULTS.md. */
  headline: string[];
  tables: Table[];
  /** How it was measured, and what the figures say. */
  notes: string[];
}

export function newSection(id: string, title: string): Section {
  return { id, title, status: 'ok', seconds: 0, headline: [], tables: [], notes: [] };
}

const cell = (v: string | number): string => (typeof v === 'number' ? String(v) : v);

export function tableText(t: Table): string {
  const rows = [t.head, ...t.rows.map((r) => r.map(cell))];
  const widths = t.head.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  const out = [] as string[];
  if (t.title) out.push(t.title);
  out.push(line(t.head), widths.map((w) => '-'.repeat(w)).join('  '), ...t.rows.map((r) => line(r.map(cell))));
  return out.join('\n');
}

const md = (s: string): string => s.replace(/\|/g, '\\|');

export function tableMarkdown(t: Table): string {
  const out = [] as string[];
  if (t.title) out.push(`**${t.title}**`, '');
  out.push(`| ${t.head.map(md).join(' | ')} |`);
  out.push(`|${t.head.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`);
  for (const r of t.rows) out.push(`| ${r.map((c) => md(cell(c))).join(' | ')} |`);
  return out.join('\n');
}

export function sectionText(s: Section): string {
  const out = [`\n=== ${s.title} [${s.status}, ${s.seconds.toFixed(0)} s] ===`];
  for (const h of s.headline) out.push(`  * ${h}`);
  for (const t of s.tables) out.push('', tableText(t));
  if (s.notes.length) out.push('', ...s.notes.map((n) => `  - ${n}`));
  return out.join('\n');
}

export function sectionMarkdown(s: Section): string {
  const out = [`## ${s.title}`, '', `_${s.status}, ${s.seconds.toFixed(0)} s_`, ''];
  for (const h of s.headline) out.push(`- ${h}`);
  if (s.headline.length) out.push('');
  for (const t of s.tables) out.push(tableMarkdown(t), '');
  if (s.notes.length) out.push(...s.notes.map((n) => `- ${n}`), '');
  return out.join('\n');
}
