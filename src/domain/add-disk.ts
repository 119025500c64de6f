/**
 * The add-disk plan: from the form's fields and the cluster's state to the disk's metadata, or the
 * one failure the user sees. Pure: the service feeds it what it read and carries out what it returns.
 */
import { allocateAuto } from './allocate.js';
import type { ResolvedSubnet } from './config.js';
import { DEFAULT_PLACEMENT, type DiskMeta, type PathSpec, type Placement, type SubnetChoice, diskIqn, isPlacement, nextDiskId } from './disk.js';
import { formatIp, parseIp } from './ip.js';
import { type Failure, fail } from './outcomes.js';
import { type Qos, hasQos, normalQos, parseQos } from './qos.js';
import { checkChap, checkManualIp, checkManualIps, checkName, isValidIqn, parsePathCount, parseSizeGb, parseSubnetChoice } from './validate.js';

export interface AddDiskRequest {
  name: unknown;
  sizeGb: unknown;
  activePaths: unknown;
  subnet: unknown;
  ipMode?: unknown;
  path1?: unknown;
  path2?: unknown;
  acl?: unknown;
  auth?: unknown;
  /** 'shared' (default) or 'spread'. */
  placement?: unknown;
  /** QoS limits (domain/qos.ts); absent: none. */
  qos?: unknown;
}

/** The form's fields, checked; what does not depend on the cluster's disks. */
export interface AddDiskInput {
  name: string;
  sizeGb: number;
  activePaths: number;
  subnet: SubnetChoice;
  /** Manual IPs as given, or undefined for automatic allocation. */
  manualIps?: string[];
  acl: string;
  chapUser: string;
  chapPassword: string;
  targetChapUser?: string;
  targetChapPassword?: string;
  placement: Placement;
  /** Set only when a limit is. */
  qos?: Qos;
}

export function obj(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/** ACL from the form: '' for all initiators, or the one initiator IQN allowed. */
export function parseAcl(raw: unknown): string | Failure {
  const acl = raw == null ? { mode: 'all' } : (obj(raw) ?? {});
  if (acl.mode === 'all') return '';
  if (acl.mode !== 'iqn') return fail('invalid_iqn', 'ACL must be all initiators or one initiator IQN.', 'acl.iqn');
  if (typeof acl.iqn !== 'string' || acl.iqn.trim() === '')
    return fail('data_missing', 'Initiator IQN is required when access is limited to one initiator.', 'acl.iqn');
  if (!isValidIqn(acl.iqn.trim())) return fail('invalid_iqn', `"${acl.iqn.slice(0, 80)}" is not a valid initiator IQN (iqn.YYYY-MM.domain:name).`, 'acl.iqn');
  return acl.iqn.trim();
}

/** Placement from the form: shared (the default) or spread. */
export function parsePlacement(raw: unknown): Placement | Failure {
  if (raw === undefined || raw === null) return DEFAULT_PLACEMENT;
  if (isPlacement(raw)) return raw;
  return fail(
    'invalid_placement',
    'Placement must be "shared" (every path on one node: SCSI reservations hold across all paths) or "spread" (paths over several nodes: reservations hold per node).',
    'placement',
  );
}

/**
 * Mutual CHAP (the target's own credentials) of an auth object: none when targetUser is absent or '',
 * else a checked user and password, the password differing from the initiator's (RFC 3720 12.1.3).
 */
export function parseMutual(
  auth: Record<string, unknown>,
  chapPassword: string,
  keep?: { user: string; password: string },
): { targetChapUser?: string; targetChapPassword?: string } | Failure {
  const user = auth.targetUser;
  if (user === undefined || user === null || user === '') {
    if (auth.targetPassword !== undefined && auth.targetPassword !== null && auth.targetPassword !== '')
      return fail('chap_missing', 'Mutual CHAP needs the target user name too.', 'chap.targetUser');
    return {};
  }
  const password = auth.targetPassword === undefined && keep && keep.user === user ? keep.password : auth.targetPassword;
  const f = checkChap(user, password);
  if (f) return { ...f, field: f.field === 'chap.user' ? 'chap.targetUser' : 'chap.targetPassword', message: `Mutual ${f.message}` };
  if (auth.user === user) return fail('invalid_chap', "The target's CHAP user must differ from the initiator's.", 'chap.targetUser');
  if (password === chapPassword) return fail('invalid_chap', "The target's CHAP password must differ from the initiator's.", 'chap.targetPassword');
  return { targetChapUser: user as string, targetChapPassword: password as string };
}

/** Authentication from the form: no CHAP ('' user), or a checked CHAP user and password (and mutual CHAP). */
export function parseAuth(raw: unknown): { chapUser: string; chapPassword: string; targetChapUser?: string; targetChapPassword?: string } | Failure {
  const auth = raw == null ? { mode: 'none' } : (obj(raw) ?? {});
  if (auth.mode === 'none') return { chapUser: '', chapPassword: '' };
  if (auth.mode !== 'chap') return fail('invalid_chap', 'Authentication must be none or CHAP.', 'chap.user');
  const chapFail = checkChap(auth.user, auth.password);
  if (chapFail) return chapFail;
  const mutual = parseMutual(auth, auth.password as string);
  if ('ok' in mutual) return mutual;
  return { chapUser: auth.user as string, chapPassword: auth.password as string, ...mutual };
}

/** Step 1 of adding a disk (docs/PRODUCT.md): check what the user sent, field by field in the form's order. */
export function parseAddDisk(req: AddDiskRequest): AddDiskInput | Failure {
  const nameFail = checkName(req.name);
  if (nameFail) return nameFail;
  const sizeGb = parseSizeGb(req.sizeGb);
  if (typeof sizeGb !== 'number') return sizeGb;
  const activePaths = parsePathCount(req.activePaths);
  if (typeof activePaths !== 'number') return activePaths;
  const subnet = parseSubnetChoice(req.subnet);
  if (typeof subnet !== 'number') return subnet;

  const mode = req.ipMode ?? 'auto';
  if (mode !== 'auto' && mode !== 'manual') return fail('invalid_ip_mode', 'IP mode must be automatic or manual.', 'ipMode');
  // Three paths or more are always allocated automatically.
  const manual = mode === 'manual' && activePaths < 3;
  let manualIps: string[] | undefined;
  if (manual) {
    const given = [req.path1, req.path2].slice(0, activePaths);
    for (const [i, v] of given.entries()) {
      if (typeof v !== 'string' || v.trim() === '') return fail('data_missing', `Path ${i + 1} IP is required in manual mode.`, `path${i + 1}` as 'path1');
    }
    manualIps = (given as string[]).map((s) => s.trim());
  }

  const acl = parseAcl(req.acl);
  if (typeof acl !== 'string') return acl;
  const auth = parseAuth(req.auth);
  if ('ok' in auth) return auth;
  const { chapUser, chapPassword } = auth;
  const mutual = auth.targetChapUser ? { targetChapUser: auth.targetChapUser, targetChapPassword: auth.targetChapPassword as string } : {};
  const aclIqn = acl;
  const placement = parsePlacement(req.placement);
  if (typeof placement !== 'string') return placement;
  const qos = parseQos(req.qos);
  if ('ok' in qos) return qos;

  return {
    name: req.name as string,
    sizeGb,
    activePaths,
    subnet,
    ...(manualIps ? { manualIps } : {}),
    acl: aclIqn,
    chapUser,
    chapPassword,
    ...mutual,
    placement,
    ...(hasQos(qos) ? { qos: normalQos(qos) } : {}),
  };
}

/**
 * Every fault of an add request at once (the web form shows them all before sending): the same checks
 * parseAddDisk makes one after another, each field judged on its own. With the subnets, manual IPs are
 * checked too (syntax, subnet of each path, twice the same); whether an IP is taken only the server knows.
 */
export function addDiskProblems(req: AddDiskRequest, subnets?: { s1: ResolvedSubnet; s2: ResolvedSubnet }): Failure[] {
  const out: Failure[] = [];
  const add = (f: Failure | undefined) => {
    if (f && !out.some((o) => o.field === f.field)) out.push(f);
  };
  add(checkName(req.name));
  const size = parseSizeGb(req.sizeGb);
  if (typeof size !== 'number') add(size);
  const paths = parsePathCount(req.activePaths);
  if (typeof paths !== 'number') add(paths);
  const subnet = parseSubnetChoice(req.subnet);
  if (typeof subnet !== 'number') add(subnet);
  const mode = req.ipMode ?? 'auto';
  if (mode !== 'auto' && mode !== 'manual') add(fail('invalid_ip_mode', 'IP mode must be automatic or manual.', 'ipMode'));
  if (mode === 'manual' && typeof paths === 'number' && paths < 3) {
    const given = [req.path1, req.path2].slice(0, paths);
    for (const [i, v] of given.entries()) {
      const field = `path${i + 1}` as 'path1';
      if (typeof v !== 'string' || v.trim() === '') {
        add(fail('data_missing', `Path ${i + 1} IP is required in manual mode.`, field));
        continue;
      }
      if (subnets && typeof subnet === 'number') {
        const one = checkManualIp(v.trim(), i, paths, subnet, subnets.s1, subnets.s2);
        if ('ok' in one) add(one);
        else if (i === 1 && parseIp(String(given[0]).trim()) === one.ip)
          add(fail('ip_used_already', `Path 2 IP ${v.trim()} is already used by another path of this disk.`, 'path2'));
      }
    }
  }
  const acl = parseAcl(req.acl);
  if (typeof acl !== 'string') add(acl);
  const auth = parseAuth(req.auth);
  if ('ok' in auth) add(auth);
  const placement = parsePlacement(req.placement);
  if (typeof placement !== 'string') add(placement);
  const qos = parseQos(req.qos);
  if ('ok' in qos) add(qos);
  return out;
}

export interface ClusterView {
  subnet1: ResolvedSubnet;
  subnet2: ResolvedSubnet;
  iqnBase: string;
  pool: string;
  /** Path IPs of every existing disk. */
  usedIps: ReadonlySet<number>;
  /** Ids of every existing image/disk. */
  diskIds: Iterable<string>;
  /** Names of every existing disk. */
  diskNames: ReadonlySet<string>;
  /** Who holds each used IP ("disk 00003 db1"): named when a manual IP is taken. */
  ipOwners?: ReadonlyMap<number, string>;
}

/** Steps 2 and 3: name uniqueness, path allocation and the next id, giving the metadata to store. */
export function planAddDisk(input: AddDiskInput, cluster: ClusterView, now: Date): DiskMeta | Failure {
  if (cluster.diskNames.has(input.name)) return fail('disk_name_exists', `A disk named "${input.name}" already exists.`, 'name');
  const { subnet1: s1, subnet2: s2 } = cluster;
  let chosen: { ip: number; subnet: ResolvedSubnet }[];
  if (input.manualIps) {
    const r = checkManualIps(input.manualIps, input.activePaths, input.subnet, s1, s2, cluster.usedIps, cluster.ipOwners);
    if (!Array.isArray(r)) return r;
    chosen = r;
  } else {
    const r = allocateAuto(input.subnet, input.activePaths, s1, s2, cluster.usedIps);
    if (!r) return fail('ip_out_of_range', `No ${input.activePaths} consecutive free IPs are left in the automatic range of the chosen subnet.`, 'activePaths');
    chosen = r;
  }
  const id = nextDiskId(cluster.diskIds);
  if (!id) return fail('no_disk_id', 'Every disk id is in use.');
  const paths: PathSpec[] = chosen.map((c) => ({ ip: formatIp(c.ip), subnetMask: c.subnet.mask, eth: c.subnet.eth }));
  return {
    id,
    name: input.name,
    sizeGb: input.sizeGb,
    createdAt: now.toISOString(),
    acl: input.acl,
    chapUser: input.chapUser,
    chapPassword: input.chapPassword,
    ...(input.targetChapUser ? { targetChapUser: input.targetChapUser, targetChapPassword: input.targetChapPassword as string } : {}),
    iqn: diskIqn(cluster.iqnBase, id),
    pool: cluster.pool,
    subnet: input.subnet,
    paths,
    placement: input.placement,
    ...(input.qos ? { qos: input.qos } : {}),
  };
}
