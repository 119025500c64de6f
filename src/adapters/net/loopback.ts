/**
 * Host network for a single box: path IPs are loopback addresses (127.0.0.0/8), which Linux already
 * answers on `lo`, so there is nothing to add, remove or announce. The multi-node implementation
 * (`ip addr` + gratuitous ARP inside the node's namespace) comes with the HA work.
 */
import { parseIp } from '../../domain/ip.js';

export interface HostNetwork {
  /** Makes ip live on this node (idempotent). */
  addIp(ip: string, prefix: number, eth: string): Promise<void>;
  /** Drops ip from this node (idempotent). */
  removeIp(ip: string, prefix: number, eth: string): Promise<void>;
}

export class LoopbackNetwork implements HostNetwork {
  async addIp(ip: string): Promise<void> {
    const n = parseIp(ip);
    if (n === undefined || n >>> 24 !== 127) throw new Error(`single-box mode serves loopback addresses only, not ${ip}`);
  }

  async removeIp(): Promise<void> {}
}
