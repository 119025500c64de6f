/**
 * portway settings show|set: the cluster settings (one copy in the coordination store) through the API,
 * as the logged-in user (`portway login`); set needs ManageConfig and is audited by the server.
 */
import { parseArgs } from 'node:util';
import type { ClusterSettingsChanged, ClusterSettingsPatch, ClusterSettingsView } from '../api/wire.js';
import { ApiError, call, loadCliConfig } from './client.js';

export const SETTINGS_USAGE = `  portway settings show [--json]      the cluster settings and their version
  portway settings set [--iqn-base IQN] [--pool POOL] [--subnet1 CIDR] [--subnet1-range FROM-TO]
                       [--subnet2 CIDR] [--subnet2-range FROM-TO] [--lease-ttl SECONDS] [--version N] [--json]
                 change them (ManageConfig); every node picks the new version up without a restart.
                 --version N: refuse if the settings are no longer at version N`;

const OPTIONS = {
  json: { type: 'boolean' },
  'iqn-base': { type: 'string' },
  pool: { type: 'string' },
  subnet1: { type: 'string' },
  'subnet1-range': { type: 'string' },
  subnet2: { type: 'string' },
  'subnet2-range': { type: 'string' },
  'lease-ttl': { type: 'string' },
  version: { type: 'string' },
} as const;

const out = (s: string): void => {
  process.stdout.write(`${s}\n`);
};

const usage = (why: string) => new ApiError(0, 'usage', `${why}\nusage:\n${SETTINGS_USAGE}`);

function range(text: string, flag: string): { autoIpFrom: string; autoIpTo: string } {
  const m = /^([^-\s]+)-([^-\s]+)$/.exec(text);
  if (!m) throw usage(`${flag} wants FROM-TO (two IPs joined by -), not "${text}"`);
  return { autoIpFrom: m[1] as string, autoIpTo: m[2] as string };
}

function integer(text: string, flag: string): number {
  if (!/^\d+$/.test(text)) throw usage(`${flag} wants a whole number, not "${text}"`);
  return Number(text);
}

/** The request body of `settings set` from its flags (nothing given: a usage error). */
export function settingsPatch(v: ReturnType<typeof parseArgs<{ options: typeof OPTIONS }>>['values']): ClusterSettingsPatch {
  const p: ClusterSettingsPatch = {};
  if (v['iqn-base'] !== undefined) p.iqnBase = v['iqn-base'];
  if (v.pool !== undefined) p.pool = v.pool;
  for (const n of ['subnet1', 'subnet2'] as const) {
    const cidr = v[n];
    const r = v[`${n}-range`];
    if (cidr !== undefined || r !== undefined) p[n] = { ...(cidr !== undefined ? { cidr } : {}), ...(r !== undefined ? range(r, `--${n}-range`) : {}) };
  }
  if (v['lease-ttl'] !== undefined) p.leaseTtlSeconds = integer(v['lease-ttl'], '--lease-ttl');
  if (Object.keys(p).length === 0) throw usage('portway settings set needs at least one setting to change');
  if (v.version !== undefined) p.version = integer(v.version, '--version');
  return p;
}

function show(s: ClusterSettingsView): void {
  const x = s.settings;
  out(`version      ${s.version} (changed ${s.changedAt}${s.changedBy ? ` by ${s.changedBy}` : ''})`);
  out(`IQN base     ${x.iqnBase}`);
  out(`pool         ${x.pool}`);
  out(`subnet 1     ${x.subnet1.cidr}, automatic ${x.subnet1.autoIpFrom}-${x.subnet1.autoIpTo}`);
  out(`subnet 2     ${x.subnet2.cidr}, automatic ${x.subnet2.autoIpFrom}-${x.subnet2.autoIpTo}`);
  out(`lease TTL    ${x.leaseTtlSeconds} s`);
}

export async function settingsCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true });
  const [sub, ...extra] = positionals;
  if (sub !== 'show' && sub !== 'set') throw usage(sub ? `unknown settings command "${sub}"` : 'which settings command?');
  if (extra.length > 0) throw usage(`unexpected argument "${extra[0]}"`);
  const c = await loadCliConfig();
  if (sub === 'show') {
    const s = await call<ClusterSettingsView>(c, 'GET', '/api/v1/settings/cluster');
    if (values.json) out(JSON.stringify(s, null, 2));
    else show(s);
    return;
  }
  const r = await call<ClusterSettingsChanged>(c, 'PUT', '/api/v1/settings/cluster', settingsPatch(values));
  if (values.json) {
    out(JSON.stringify(r, null, 2));
    return;
  }
  if (r.changes.length === 0) out(`nothing changed (version ${r.version})`);
  else {
    out(`cluster settings now at version ${r.version}:`);
    for (const ch of r.changes) out(`  ${ch.field}: ${ch.from} -> ${ch.to}`);
  }
}
