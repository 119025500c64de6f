/**
 * portway login / disk / path commands: the HTTP API from the command line, human tables or --json.
 */
import { parseArgs } from 'node:util';
import { ApiError, type CliConfig, call, loadCliConfig, saveCliConfig } from './client.js';
import type { DiskView, MoveReply, PathView } from '../api/wire.js';
import { table } from './table.js';

const out = (s: string): void => {
  process.stdout.write(`${s}\n`);
};

function printDisks(disks: DiskView[], json: boolean): void {
  if (json) {
    out(JSON.stringify(disks, null, 2));
    return;
  }
  out(
    table(
      ['ID', 'NAME', 'SIZE', 'STATUS', 'PATHS', 'PLACEMENT', 'IQN'],
      disks.map((d) => [d.id, d.name, `${d.sizeGb} GiB`, d.status, `${d.pathsServed}/${d.pathCount}`, d.placement, d.iqn]),
    ),
  );
}

export const DISK_OPTIONS = {
  json: { type: 'boolean' },
  name: { type: 'string' },
  size: { type: 'string' },
  paths: { type: 'string' },
  subnet: { type: 'string' },
  placement: { type: 'string' },
  ip: { type: 'string', multiple: true },
  acl: { type: 'string' },
  'chap-user': { type: 'string' },
  'chap-password-stdin': { type: 'boolean' },
  'no-chap': { type: 'boolean' },
  'target-user': { type: 'string' },
  'target-password-stdin': { type: 'boolean' },
  'no-mutual': { type: 'boolean' },
  'keep-paths': { type: 'boolean' },
  iops: { type: 'string' },
  'read-iops': { type: 'string' },
  'write-iops': { type: 'string' },
  bps: { type: 'string' },
  'read-bps': { type: 'string' },
  'write-bps': { type: 'string' },
  force: { type: 'boolean' },
  node: { type: 'string' },
  url: { type: 'string' },
  token: { type: 'string' },
  ca: { type: 'string' },
  fingerprint: { type: 'string' },
} as const;

async function stdinText(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

type Values = ReturnType<typeof parseArgs<{ options: typeof DISK_OPTIONS; allowPositionals: true }>>['values'];

/**
 * The passwords given on stdin: the CHAP password, the target's (mutual CHAP), or both, one per line in
 * that order.
 */
async function stdinPasswords(v: Values): Promise<{ password?: string; targetPassword?: string }> {
  const own = v['chap-password-stdin'] === true;
  const target = v['target-password-stdin'] === true;
  if (!own && !target) return {};
  const lines = (await stdinText()).split(/\r?\n/);
  if (own && target) {
    if (lines.length < 2) throw new ApiError(0, 'usage', 'give the CHAP password and the target password on stdin, one per line');
    return { password: lines[0] as string, targetPassword: lines[1] as string };
  }
  const text = lines.join('\n');
  return own ? { password: text } : { targetPassword: text };
}

/**
 * The request's auth. `current`: the disk being edited, whose CHAP user and mutual CHAP user are kept
 * when the flags leave them out (an edit's auth replaces the whole of it).
 */
async function authBody(v: Values, current?: DiskView): Promise<Record<string, unknown>> {
  if (v['no-chap']) return { auth: { mode: 'none' } };
  const wantsTarget = v['target-user'] !== undefined || v['target-password-stdin'] === true || v['no-mutual'] === true;
  if (!v['chap-user'] && !wantsTarget && !v['chap-password-stdin']) return {};
  const user = v['chap-user'] ?? (current?.chapUser || undefined);
  if (!user) throw new ApiError(0, 'usage', 'mutual CHAP needs CHAP: give --chap-user (and --chap-password-stdin)');
  const { password, targetPassword } = await stdinPasswords(v);
  const targetUser = v['no-mutual'] ? undefined : (v['target-user'] ?? (current?.targetChapUser || undefined));
  if (targetPassword !== undefined && !targetUser) throw new ApiError(0, 'usage', 'a target password needs --target-user');
  return {
    auth: {
      mode: 'chap',
      user,
      ...(password !== undefined ? { password } : {}),
      ...(targetUser ? { targetUser } : {}),
      ...(targetPassword !== undefined ? { targetPassword } : {}),
    },
  };
}

function placementBody(v: Values): Record<string, unknown> {
  return v.placement === undefined ? {} : { placement: v.placement };
}

function aclBody(v: Values): Record<string, unknown> {
  if (v.acl === undefined) return {};
  return { acl: v.acl === 'all' ? { mode: 'all' } : { mode: 'iqn', iqn: v.acl } };
}

/** The CLI flag of each QoS limit. */
const QOS_FLAGS = [
  ['iops', 'iops'],
  ['read-iops', 'readIops'],
  ['write-iops', 'writeIops'],
  ['bps', 'bps'],
  ['read-bps', 'readBps'],
  ['write-bps', 'writeBps'],
] as const;

const UNITS: Readonly<Record<string, number>> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/**
 * A QoS flag's value: 'none' or 0 removes the limit; digits, for bandwidth with an optional K/M/G/T
 * suffix (binary: 10M = 10 MiB/s). Anything else is sent as given for the server to refuse.
 */
export function qosValue(s: string, bytes: boolean): number | string {
  if (s === 'none') return 0;
  const m = /^(\d+)([kmgt]?)(?:i?b)?$/i.exec(s.trim());
  if (!m || (!bytes && m[2] !== '')) return s;
  return Number(m[1]) * (UNITS[(m[2] ?? '').toLowerCase()] ?? 1);
}

function qosBody(v: Values): Record<string, unknown> {
  const qos: Record<string, number | string> = {};
  for (const [flag, key] of QOS_FLAGS) {
    const given = v[flag];
    if (given !== undefined) qos[key] = qosValue(given, flag.endsWith('bps'));
  }
  return Object.keys(qos).length ? { qos } : {};
}

/** A disk's limits in words: "iops 500, read bps 10485760" or "none". */
export function qosText(q: DiskView['qos']): string {
  const parts = QOS_FLAGS.filter(([, key]) => q[key] !== undefined).map(([flag, key]) => `${flag.replace('-', ' ')} ${q[key]}`);
  return parts.length ? parts.join(', ') : 'none';
}

function num(s: string | undefined): number | string | undefined {
  return s !== undefined && /^\d+$/.test(s) ? Number(s) : s;
}

export async function addBody(v: Values): Promise<Record<string, unknown>> {
  const ips = v.ip ?? [];
  return {
    ...(v.name !== undefined ? { name: v.name } : {}),
    sizeGb: num(v.size),
    activePaths: num(v.paths ?? (ips.length ? String(ips.length) : '2')),
    subnet: num(v.subnet ?? '1'),
    ipMode: ips.length ? 'manual' : 'auto',
    ...(ips[0] ? { path1: ips[0] } : {}),
    ...(ips[1] ? { path2: ips[1] } : {}),
    acl: { mode: 'all' },
    auth: { mode: 'none' },
    ...aclBody(v),
    ...placementBody(v),
    ...qosBody(v),
    ...(await authBody(v)),
  };
}

export const DISK_USAGE = `  portway login --url URL --token TOKEN [--ca FILE | --fingerprint SHA256]
                   save where the API is, the API token, and how to trust its certificate
  portway disk list [--json]
  portway disk show ID [--json]                 the disk, its paths (IP, node, state) and the hosts connected
  portway disk add --name NAME --size GIB [--paths N] [--subnet 1|2|3] [--ip IP [--ip IP]]
                   [--acl IQN|all] [--chap-user U --chap-password-stdin [--target-user T --target-password-stdin]]
                   [--placement shared|spread] [QOS] [--json]
                   --target-user: mutual CHAP, the target's own user the host checks; with both *-stdin
                   flags stdin holds the CHAP password, then the target password, one per line
                   shared (default): every path on one node, reservations hold across paths;
                   spread: paths over nodes for one host's throughput, reservations per node only
  portway disk edit ID [--name NAME] [--size GIB] [--acl IQN|all] [--chap-user U [--chap-password-stdin] | --no-chap]
                   [--target-user T [--target-password-stdin] | --no-mutual] [--placement shared|spread] [QOS]
                   CHAP flags left out keep what the disk has (passwords too)
                   QOS: --iops N --read-iops N --write-iops N --bps B --read-bps B --write-bps B
                   (B in bytes/s, K/M/G/T suffix binary: 100M; 'none' or 0 removes a limit; Ceph RBD only,
                   applied to a started disk at once)
  portway disk stop|start|detach|delete ID [--force]
                   stop, detach and delete are refused while hosts are connected (they are listed),
                   unless --force
  portway disk attach IMAGE [--keep-paths | --name NAME --paths N ...]
  portway path move ID N --node NODE
  (PORTWAY_URL / PORTWAY_TOKEN / PORTWAY_CA / PORTWAY_FINGERPRINT override the saved login)`;

export async function loginCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: DISK_OPTIONS, allowPositionals: true });
  if (!values.url || !values.token) throw new ApiError(0, 'usage', 'portway login needs --url and --token');
  const c: CliConfig = {
    url: values.url,
    token: values.token,
    ...(values.ca ? { ca: values.ca } : {}),
    ...(values.fingerprint ? { fingerprint: values.fingerprint } : {}),
  };
  await call(c, 'GET', '/api/v1/disks');
  await saveCliConfig(c);
  out(`logged in to ${c.url}`);
}

export async function diskCommand(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseArgs({ args: argv, options: DISK_OPTIONS, allowPositionals: true });
  const [sub, arg] = positionals;
  const c = await loadCliConfig();
  if (v.url) c.url = v.url;
  if (v.token) c.token = v.token;
  if (v.ca) c.ca = v.ca;
  if (v.fingerprint) c.fingerprint = v.fingerprint;
  const json = v.json === true;
  const need = (what: string) => {
    if (!arg) throw new ApiError(0, 'usage', `portway disk ${sub} needs ${what}`);
    return encodeURIComponent(arg);
  };
  switch (sub) {
    case 'list':
      return printDisks((await call<{ disks: DiskView[] }>(c, 'GET', '/api/v1/disks')).disks, json);
    case 'show': {
      const id = need('a disk id');
      const { disk } = await call<{ disk: DiskView }>(c, 'GET', `/api/v1/disks/${id}`);
      const { paths } = await call<{ paths: PathView[] }>(c, 'GET', `/api/v1/disks/${id}/paths`);
      if (json) return out(JSON.stringify({ disk, paths }, null, 2));
      printDisks([disk], false);
      out(`QoS limits: ${qosText(disk.qos)}`);
      out('');
      out(
        table(
          ['PATH', 'IP', 'NODE', 'STATE'],
          paths.map((p) => [p.index, p.ip, p.node ?? '-', p.state]),
        ),
      );
      out('');
      const hosts = disk.hosts ?? [];
      if (hosts.length === 0) return out('Connected hosts: none');
      return out(
        table(
          ['HOST IQN', 'ADDRESS', 'PATH', 'NODE', 'CONNS', 'SINCE'],
          hosts.map((h) => [h.iqn, h.address, h.path === null ? h.portal || '-' : `${h.path} (${h.portal})`, h.node, h.connections, h.since]),
        ),
      );
    }
    case 'add': {
      const { disk } = await call<{ disk: DiskView }>(c, 'POST', '/api/v1/disks', await addBody(v));
      return json ? out(JSON.stringify(disk, null, 2)) : out(`added disk ${disk.id} "${disk.name}" (${disk.status})`);
    }
    case 'edit': {
      const target = need('a disk id');
      const wantsAuth =
        v['chap-user'] !== undefined || v['chap-password-stdin'] || v['target-user'] !== undefined || v['target-password-stdin'] || v['no-mutual'];
      const current = wantsAuth && !v['no-chap'] ? (await call<{ disk: DiskView }>(c, 'GET', `/api/v1/disks/${target}`)).disk : undefined;
      const body = {
        ...(v.name !== undefined ? { name: v.name } : {}),
        ...(v.size !== undefined ? { sizeGb: num(v.size) } : {}),
        ...aclBody(v),
        ...placementBody(v),
        ...qosBody(v),
        ...(await authBody(v, current)),
      };
      const { disk } = await call<{ disk: DiskView }>(c, 'PATCH', `/api/v1/disks/${target}`, body);
      return json ? out(JSON.stringify(disk, null, 2)) : out(`disk ${disk.id} "${disk.name}" updated`);
    }
    case 'stop':
    case 'start': {
      const body = sub === 'stop' && v.force ? { force: true } : undefined;
      const { disk } = await call<{ disk: DiskView }>(c, 'POST', `/api/v1/disks/${need('a disk id')}/${sub}`, body);
      return json ? out(JSON.stringify(disk, null, 2)) : out(`disk ${disk.id}: ${disk.status}`);
    }
    case 'detach': {
      const r = await call<{ image: string }>(c, 'POST', `/api/v1/disks/${need('a disk id')}/detach`, v.force ? { force: true } : undefined);
      return json ? out(JSON.stringify(r)) : out(`detached; image ${r.image} kept`);
    }
    case 'delete': {
      const r = await call<{ id: string }>(c, 'DELETE', `/api/v1/disks/${need('a disk id')}${v.force ? '?force=true' : ''}`);
      return json ? out(JSON.stringify(r)) : out(`deleted disk ${r.id}`);
    }
    case 'attach': {
      const body = v['keep-paths'] ? { image: arg, keepPaths: true } : { ...(await addBody(v)), image: arg };
      if (!arg) throw new ApiError(0, 'usage', 'portway disk attach needs an image name');
      const { disk } = await call<{ disk: DiskView }>(c, 'POST', '/api/v1/images/attach', body);
      return json ? out(JSON.stringify(disk, null, 2)) : out(`attached ${arg} as disk ${disk.id} "${disk.name}"`);
    }
    default:
      throw new ApiError(0, 'usage', `unknown disk command ${sub ?? ''}\n${DISK_USAGE}`);
  }
}

export async function pathCommand(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseArgs({ args: argv, options: DISK_OPTIONS, allowPositionals: true });
  const [sub, id, n] = positionals;
  if (sub !== 'move' || !id || !n || !v.node) throw new ApiError(0, 'usage', 'usage: portway path move ID N --node NODE');
  const c = await loadCliConfig();
  const r = await call<MoveReply>(c, 'POST', `/api/v1/disks/${encodeURIComponent(id)}/paths/${encodeURIComponent(n)}/move`, { node: v.node });
  out(v.json ? JSON.stringify(r) : `path ${n} of disk ${id} is moving to ${v.node}`);
}
