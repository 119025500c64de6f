/**
 * Where each node records the RBD clients (addresses with their nonce) its tgtds opened a disk's image
 * with: `<root>/clients/<disk id>/<node>`, no lease, so the record outlives the node's lease. A node that
 * takes the disk over blocklists the clients of nodes that are not live any more even when their watch
 * has expired (a node frozen longer than the OSDs' watch timeout still holds writes). Pure.
 */
import { ROOT } from './keys.js';

export const CLIENTS = `${ROOT}/clients/`;

export function clientsKey(id: string, node: string): string {
  return `${CLIENTS}${id}/${node}`;
}

export function clientsPrefix(id: string): string {
  return `${CLIENTS}${id}/`;
}

export interface ClientsRecord {
  /** RADOS client addresses, "IP:port/nonce". */
  addrs: string[];
  at: string;
}

/** The node a clients key names, and its record; undefined if the key or value is not one. */
export function parseClients(key: string, value: string): { id: string; node: string; addrs: string[] } | undefined {
  const m = /^\/portway\/clients\/(\d{5})\/([A-Za-z0-9][A-Za-z0-9._-]{0,62})$/.exec(key);
  if (!m) return undefined;
  try {
    const v = JSON.parse(value) as Partial<ClientsRecord> | null;
    const addrs = Array.isArray(v?.addrs) ? v.addrs.filter((a): a is string => typeof a === 'string' && /^[0-9a-fA-F.:[\]]+:\d{1,5}\/\d{1,20}$/.test(a)) : [];
    return { id: m[1] as string, node: m[2] as string, addrs };
  } catch {
    return undefined;
  }
}

/** The IP of a client address "IP:port/nonce" (IPv6 without its brackets). */
export function ipOfClient(addr: string): string {
  return addr.slice(0, addr.lastIndexOf(':')).replace(/^\[|\]$/g, '');
}
