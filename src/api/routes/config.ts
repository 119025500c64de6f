import type { FastifyInstance } from 'fastify';
import type { ClusterConfig, ResolvedSubnet } from '../../domain/config.js';
import { cidrText } from '../../domain/ip.js';

function subnetView(s: ResolvedSubnet, c: ClusterConfig['subnet1']) {
  const cidr = cidrText(s.subnet);
  return { cidr, network: cidr.split('/')[0], prefix: s.subnet.prefix, mask: s.mask, autoIpFrom: c.autoIpFrom, autoIpTo: c.autoIpTo, eth: s.eth };
}

export function configRoutes(app: FastifyInstance, o: { config: ClusterConfig; subnet1: ResolvedSubnet; subnet2: ResolvedSubnet }): void {
  app.get('/api/v1/config', async () => ({
    iqnBase: o.config.iqnBase,
    pool: o.config.pool,
    subnet1: subnetView(o.subnet1, o.config.subnet1),
    subnet2: subnetView(o.subnet2, o.config.subnet2),
  }));
}
