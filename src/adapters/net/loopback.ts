/**
 * Host network for a single box: path IPs are loopback addresses (127.0.0.0/8), which Linux already
 * answers on `lo`, so there is nothing to add, remove or announce. The multi-node implementation is
 * IpRouteNetwork (iproute.ts): `ip addr` + gratuitous ARP on the node's interfaces.
 */
import { parseIp } from '../../domain/ip.js';

export interface HostNetwork {
  /** Makes ip live on this node (idempotent). */
  addIp(ip: string, prefix: number, eth: string): Promise<void>;
  /** Drops ip from this node, whatever its prefix and interface (idempotent). */
  removeIp(ip: string, prefix: number, eth: string): Promise<void>;
  /** Tells the segment that ip now lives here (gratuitous ARP); resolves once it is sent as far as known (never waits long). */
  announce?(ip: string, eth: string): Promise<void>;
  /** The addresses this node has now (to drop path IPs it holds without knowing why, e.g. when fencing). */
  listIps?(): Promise<string[]>;
  /** Drops every one of these addresses this node has, at once (fencing); the others are ignored. */
  dropIps?(addrs: readonly { ip: string; prefix: number; eth: string }[]): Promise<void>;
}

export class LoopbackNetwork implements HostNetwork {
  async addIp(ip: string): Promise<void> {
    const n = parseIp(ip);
    if (n === undefined || n >>> 24 !== 127) throw new Error(`single-box mode serves loopback addresses only, not ${ip}`);
  }

  async removeIp(): Promise<void> {}
}
