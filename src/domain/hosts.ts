/**
 * Connected hosts: the initiators logged in to a disk's target, as each serving node's tgtd tells them.
 * Each node's agent records them per disk at `<root>/hosts/<disk id>/<node>` (no lease; written when
 * they change, deleted when the node serves nothing of the disk any more). Readers count only records
 * of live nodes (a node that died took its sessions with it). Pure.
 */
import { HOSTS } from './keys.js';

export interface HostSession {
  /** The initiator's IQN. */
  iqn: string;
  /** The initiator's IP address (of its first connection). */
  address: string;
  /** The path IP (portal) the session came in on; '' when tgtd's sockets did not tell. */
  portal: string;
  /** iSCSI connections of the session. */
  connections: number;
  /** When the node first saw the session (tgtd does not say when it began): ISO time. */
  since: string;
}

export interface HostsRecord {
  sessions: HostSession[];
  at: string;
}

export function hostsKey(id: string, node: string): string {
  return `${HOSTS}${id}/${node}`;
}

export function hostsPrefix(id: string): string {
  return `${HOSTS}${id}/`;
}

const IQN_LIKE = /^[\x21-\x7e]{1,223}$/;
const ADDR = /^[0-9a-fA-F.:]{0,45}$/;

/** The disk, node and sessions of a hosts key and value; undefined if they are not one. */
export function parseHosts(key: string, value: string): { id: string; node: string; sessions: HostSession[] } | undefined {
  const m = /^\/portway\/hosts\/(\d{5})\/([A-Za-z0-9][A-Za-z0-9._-]{0,62})$/.exec(key);
  if (!m) return undefined;
  try {
    const v = JSON.parse(value) as Partial<HostsRecord> | null;
    const raw = Array.isArray(v?.sessions) ? v.sessions : [];
    const sessions = raw.flatMap((s): HostSession[] => {
      if (typeof s !== 'object' || s === null) return [];
      const { iqn, address, portal, connections, since } = s as Partial<HostSession>;
      if (typeof iqn !== 'string' || !IQN_LIKE.test(iqn) || typeof address !== 'string' || !ADDR.test(address)) return [];
      return [
        {
          iqn,
          address,
          portal: typeof portal === 'string' && ADDR.test(portal) ? portal : '',
          connections: Number.isInteger(connections) ? (connections as number) : 1,
          since: typeof since === 'string' ? since : '',
        },
      ];
    });
    return { id: m[1] as string, node: m[2] as string, sessions };
  } catch {
    return undefined;
  }
}

/** A connected host as the API shows it: a session, the node serving it and the path it is on. */
export interface ConnectedHost extends HostSession {
  node: string;
  /** The path number (1-based) whose IP is the session's portal; null when not known. */
  path: number | null;
}

/**
 * The connected hosts of a disk from its hosts records: only live nodes' records, each session on the
 * path whose IP is its portal. Sorted by path, then IQN. Pure.
 */
export function connectedHosts(
  records: Iterable<{ key: string; value: string }>,
  liveNodes: ReadonlySet<string>,
  pathIps: ReadonlyMap<string, number>,
): ConnectedHost[] {
  const out: ConnectedHost[] = [];
  for (const kv of records) {
    const r = parseHosts(kv.key, kv.value);
    if (!r || !liveNodes.has(r.node)) continue;
    for (const s of r.sessions) out.push({ ...s, node: r.node, path: pathIps.get(s.portal) ?? null });
  }
  return out.sort((a, b) => (a.path ?? 99) - (b.path ?? 99) || (a.iqn < b.iqn ? -1 : a.iqn > b.iqn ? 1 : 0) || (a.address < b.address ? -1 : 1));
}

/** "iqn (address) on path n via node", one per host, for a refusal's message. */
export function describeHosts(hosts: readonly ConnectedHost[]): string {
  return hosts.map((h) => `${h.iqn} (${h.address}${h.path ? `, path ${h.path}` : ''} on ${h.node})`).join(', ');
}
