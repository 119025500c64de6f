/** Cluster configuration and its validation. Pure. */
import { type Subnet, cidrText, isHostOf, maskText, parseCidr, parseIp, subnetsOverlap } from './ip.js';
import { isValidIqn } from './validate.js';

export interface SubnetConfig {
  /** "a.b.c.d/nn" */
  cidr: string;
  autoIpFrom: string;
  autoIpTo: string;
  /** Node interface carrying this subnet. */
  eth: string;
}

export interface ClusterConfig {
  iqnBase: string;
  pool: string;
  subnet1: SubnetConfig;
  subnet2: SubnetConfig;
}

/** A subnet config with its numbers resolved. */
export interface ResolvedSubnet {
  subnet: Subnet;
  from: number;
  to: number;
  eth: string;
  mask: string;
}

/** The single-box default: both iSCSI subnets on loopback addresses, served by tgtd on lo. */
export const DEFAULT_CONFIG: ClusterConfig = {
  iqnBase: 'iqn.2016-05.io.portway',
  pool: 'rbd',
  subnet1: { cidr: '127.10.1.0/24', autoIpFrom: '127.10.1.10', autoIpTo: '127.10.1.250', eth: 'lo' },
  subnet2: { cidr: '127.10.2.0/24', autoIpFrom: '127.10.2.10', autoIpTo: '127.10.2.250', eth: 'lo' },
};

export type ConfigCheck =
  | { ok: true; subnet1: ResolvedSubnet; subnet2: ResolvedSubnet }
  | { ok: false; message: string; field: 'iqnBase' | 'pool' | 'subnet1' | 'subnet2' };

const ETH = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,14}$/;
const POOL = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function resolveSubnet(label: string, c: SubnetConfig): ResolvedSubnet | string {
  const subnet = parseCidr(c.cidr);
  if (!subnet) return `${label}: "${c.cidr}" is not a network in CIDR form (e.g. 10.0.1.0/24)`;
  const from = parseIp(c.autoIpFrom);
  const to = parseIp(c.autoIpTo);
  if (from === undefined || to === undefined) return `${label}: the automatic range needs two valid IPv4 addresses`;
  if (!isHostOf(from, subnet) || !isHostOf(to, subnet))
    return `${label}: the automatic range ${c.autoIpFrom}-${c.autoIpTo} must lie inside ${cidrText(subnet)}`;
  if (from > to) return `${label}: the automatic range starts after it ends`;
  if (!ETH.test(c.eth)) return `${label}: "${c.eth}" is not a valid interface name`;
  return { subnet, from, to, eth: c.eth, mask: maskText(subnet.prefix) };
}

export function checkConfig(c: ClusterConfig): ConfigCheck {
  if (!isValidIqn(c.iqnBase) || !c.iqnBase.startsWith('iqn.') || c.iqnBase.includes(':'))
    return { ok: false, field: 'iqnBase', message: `IQN base "${c.iqnBase}" must look like iqn.YYYY-MM.reversed.domain` };
  if (!POOL.test(c.pool)) return { ok: false, field: 'pool', message: `"${c.pool}" is not a valid pool name` };
  const s1 = resolveSubnet('iSCSI subnet 1', c.subnet1);
  if (typeof s1 === 'string') return { ok: false, field: 'subnet1', message: s1 };
  const s2 = resolveSubnet('iSCSI subnet 2', c.subnet2);
  if (typeof s2 === 'string') return { ok: false, field: 'subnet2', message: s2 };
  if (subnetsOverlap(s1.subnet, s2.subnet)) return { ok: false, field: 'subnet2', message: 'iSCSI subnets 1 and 2 overlap' };
  return { ok: true, subnet1: s1, subnet2: s2 };
}
