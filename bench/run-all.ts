/**
 * `npm run bench`: every benchmark in one run, on this machine, and bench/RESULTS.md.
 *
 *   npm run bench                    all sections; writes bench/RESULTS.md
 *   BENCH_QUICK=1 npm run bench      small sizes, short runs (a smoke test); writes bench/RESULTS.quick.md
 *   npm run bench -- list datapath   only these sections; writes bench/RESULTS.partial.md
 *   BENCH_TUNE=1                     the data path also measures each tgtd setting on its own
 *   BENCH_BUDGET_MIN=14              time budget of the run: the memory section's wait is cut to fit
 *
 * Starts what it needs (etcd and Ceph through test/helpers/services.ts, i.e. scripts/etcd-*.sh and
 * scripts/ceph-*.sh, on free loopback ports in temp dirs) and stops it by PID, also on Ctrl-C.
 * Nothing here asserts a wall-clock time: figures are printed and recorded, targets marked met/MISSED.
 *
 * bench/failover.ts (another engineer's) and bench/failover-scale.ts (failover with 10 / 50 / 150 disks
 * moving; BENCH_QUICK: 4 / 16) run as child processes when present (both need root: network
 * namespaces); a line `BENCH_SECTION <json of lib/report.ts Section>` on its stdout becomes its section,
 * otherwise the end of its output is recorded as is.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchContext } from './lib/context.js';
import { QUICK, installSignalHandlers, load, log, machine, runCleanups } from './lib/env.js';
import { runFor } from './lib/proc.js';
import { type Section, newSection, sectionMarkdown, sectionText, tableMarkdown } from './lib/report.js';
import { startServices } from './lib/services.js';

const HERE = dirname(fileURLToPath(import.meta.url));

interface Entry {
  id: string;
  needs: { ceph: boolean; etcd: boolean };
  run: (ctx: BenchContext) => Promise<Section>;
}

const SECTIONS: Entry[] = [
  { id: 'allocate', needs: { ceph: false, etcd: false }, run: async (c) => (await import('./allocate.js')).run(c) },
  { id: 'list', needs: { ceph: true, etcd: true }, run: async (c) => (await import('./list.js')).run(c) },
  { id: 'add-disk', needs: { ceph: true, etcd: true }, run: async (c) => (await import('./add-disk.js')).run(c) },
  { id: 'datapath', needs: { ceph: true, etcd: true }, run: async (c) => (await import('./datapath.js')).run(c) },
  // after Ceph and etcd are stopped: it needs neither, and 1,000 tgtds want the CPUs
  { id: 'memory', needs: { ceph: false, etcd: false }, run: async (c) => (await import('./memory.js')).run(c) },
  // the agent's CPU at rest with and without target sampling (1,000 tgtds too)
  { id: 'agent-cpu', needs: { ceph: false, etcd: false }, run: async (c) => (await import('./agent-cpu.js')).run(c) },
];

async function runSection(e: Entry, ctx: BenchContext): Promise<Section> {
  const t0 = performance.now();
  const loadBefore = load();
  log(`--- ${e.id} (${loadBefore})`);
  let sec: Section;
  try {
    sec = await e.run(ctx);
  } catch (err) {
    sec = newSection(e.id, e.id);
    sec.status = 'failed';
    sec.notes.push(`failed: ${(err as Error).stack?.split('\n').slice(0, 4).join(' | ') ?? String(err)}`);
    log(`${e.id} failed: ${(err as Error).stack ?? String(err)}`);
  }
  sec.seconds = (performance.now() - t0) / 1000;
  sec.notes.push(`Machine load: ${loadBefore} at the start, ${load()} at the end.`);
  process.stdout.write(`${sectionText(sec)}\n`);
  return sec;
}

/** The benches on the simulated cluster (test/harness), each a child process: section id -> file, title. */
const CHILDREN = [
  { id: 'failover', file: 'failover.ts', title: 'Failover (bench/failover.ts)' },
  { id: 'failover-scale', file: 'failover-scale.ts', title: 'Failover at scale (bench/failover-scale.ts)' },
];

/** A bench on the simulated cluster (bench/failover.ts, bench/failover-scale.ts), when present: as a child process. */
async function failover(limitS: number, child: (typeof CHILDREN)[number] = CHILDREN[0] as (typeof CHILDREN)[number]): Promise<Section | undefined> {
  const file = join(HERE, child.file);
  if (!existsSync(file)) return undefined;
  log(`--- ${child.id} (bench/${child.file}, child process)`);
  const t0 = performance.now();
  let parsed: Section | undefined;
  const r = await runFor(process.execPath, ['--import', 'tsx', file], limitS, {
    onLine: (line) => {
      if (line.startsWith('BENCH_SECTION ')) {
        try {
          parsed = JSON.parse(line.slice('BENCH_SECTION '.length)) as Section;
        } catch {}
      } else process.stderr.write(`  [${child.id}] ${line}\n`);
    },
    // its deadline: it starts no repetition that would end after it (45 s left for the cluster's teardown)
    env: { ...process.env, BENCH_CHILD: '1', BENCH_DEADLINE_MS: String(Date.now() + (limitS - 45) * 1000) },
  });
  const sec = parsed ?? newSection(child.id, child.title);
  if (!parsed) {
    sec.status = r.code === 0 ? 'ok' : 'failed';
    sec.notes.push(`exit ${r.code}; its output:\n\n\`\`\`\n${r.stdout.split('\n').slice(-60).join('\n')}\n\`\`\``);
  }
  sec.seconds = (performance.now() - t0) / 1000;
  process.stdout.write(`${sectionText(sec)}\n`);
  return sec;
}

async function main(): Promise<void> {
  installSignalHandlers();
  const only = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const unknown = only.filter((o) => !SECTIONS.some((s) => s.id === o) && !CHILDREN.some((c) => c.id === o));
  if (unknown.length) throw new Error(`unknown section(s) ${unknown.join(', ')}; sections: ${[...SECTIONS, ...CHILDREN].map((s) => s.id).join(', ')}`);
  const chosen = only.length ? SECTIONS.filter((s) => only.includes(s.id)) : SECTIONS;
  const m = machine();
  const t0 = performance.now();
  // The run's time budget (BENCH_BUDGET_MIN, default 14 min): the memory section's wait is cut to fit.
  const budgetEnd = Date.now() + Number(process.env.BENCH_BUDGET_MIN || 14) * 60_000;
  log(`Portway bench${QUICK ? ' (BENCH_QUICK)' : ''}: ${chosen.map((s) => s.id).join(', ')}; ${m.nproc} CPUs, ${m.ramGiB.toFixed(1)} GiB, kernel ${m.kernel}`);

  const withServices = chosen.filter((s) => s.needs.ceph || s.needs.etcd);
  const without = chosen.filter((s) => !s.needs.ceph && !s.needs.etcd);
  const sections: Section[] = [];
  let ctx: BenchContext = { quick: QUICK, budgetEnd };
  let servicesNote = '';
  // allocate first (pure CPU, before anything else runs), then the sections that use Ceph/etcd, then memory
  const first = without.filter((s) => s.id === 'allocate');
  const last = without.filter((s) => s.id !== 'allocate');
  for (const e of first) sections.push(await runSection(e, ctx));
  if (withServices.length) {
    const want = { ceph: withServices.some((s) => s.needs.ceph), etcd: withServices.some((s) => s.needs.etcd) };
    log(`starting ${[want.ceph && 'Ceph', want.etcd && 'etcd'].filter(Boolean).join(' and ')}`);
    const services = await startServices(want);
    ctx = { ...services.ctx, budgetEnd };
    servicesNote = [
      ctx.ceph
        ? `Ceph (1 mon, 1 mgr, 1 bluestore OSD on a ${4} GiB sparse file, pool size 1) started in ${(ctx.ceph.startMs / 1000).toFixed(0)} s`
        : `Ceph: ${ctx.cephMissing}`,
      ctx.etcd ? `etcd (1 member) started in ${(ctx.etcd.startMs / 1000).toFixed(1)} s` : `etcd: ${ctx.etcdMissing}`,
    ].join('; ');
    try {
      for (const e of withServices) sections.push(await runSection(e, ctx));
    } finally {
      await services.stop();
    }
    ctx = { quick: QUICK, budgetEnd };
  }
  for (const e of last) sections.push(await runSection(e, ctx));
  for (const child of CHILDREN) {
    if (only.length && !only.includes(child.id)) continue;
    const f = await failover(Math.min(child.id === 'failover-scale' ? 1500 : 600, Math.max(120, (budgetEnd - Date.now()) / 1000 + 60)), child);
    if (f) sections.push(f);
  }
  await runCleanups();
  const totalS = (performance.now() - t0) / 1000;

  // ---- RESULTS.md ---------------------------------------------------------------------------------
  const file = QUICK ? 'RESULTS.quick.md' : only.length ? 'RESULTS.partial.md' : 'RESULTS.md';
  const md: string[] = [
    '# Portway benchmarks: results',
    '',
    `Produced by \`${QUICK ? 'BENCH_QUICK=1 ' : ''}npm run bench${only.length ? ` -- ${only.join(' ')}` : ''}\` (bench/run-all.ts) on ${m.date}, in ${(totalS / 60).toFixed(1)} min. Every figure below is from that one run on this one machine; re-run to refresh. See bench/README.md for what each section measures and how.`,
    '',
    tableMarkdown({
      title: 'Machine',
      head: ['', ''],
      rows: [
        ['date', m.date],
        ['CPUs (nproc)', `${m.nproc} × ${m.cpu}`],
        ['RAM', `${m.ramGiB.toFixed(1)} GiB`],
        ['kernel', m.kernel],
        ['Node.js', m.node],
        [
          'tools',
          Object.entries(m.tools)
            .map(([k, v]) => `${k} ${v}`)
            .join(', '),
        ],
        ['services', servicesNote || 'none'],
      ],
    }),
    '',
    '## Summary',
    '',
    ...sections.flatMap((s) => [`**${s.title}** (${s.status})`, '', ...s.headline.map((h) => `- ${h}`), '']),
    ...sections.map(sectionMarkdown),
  ];
  writeFileSync(
    join(HERE, file),
    `${md
      .join('\n')
      .replace(/\n{3,}/g, '\n\n')
      .trimEnd()}\n`,
  );
  log(`done in ${(totalS / 60).toFixed(1)} min; wrote bench/${file}`);
  if (sections.some((s) => s.status === 'failed')) process.exitCode = 1;
}

main().catch(async (e) => {
  log(`bench failed: ${(e as Error).stack ?? String(e)}`);
  await runCleanups();
  process.exit(1);
});
