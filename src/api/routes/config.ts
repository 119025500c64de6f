import type { FastifyInstance } from 'fastify';
import type { ClusterConfig, ResolvedSubnet } from '../../domain/config.js';
import { cidrText } from '../../domain/ip.js';
import { described, operations } from '../route.js';
import { ClusterConfigView as ConfigSchema } from '../schemas.js';
import type { ClusterConfigView, SubnetView } from '../wire.js';

function subnetView(s: ResolvedSubnet, c: ClusterConfig['subnet1']): SubnetView {
  const cidr = cidrText(s.subnet);
  return { cidr, network: cidr.split('/')[0] as string, prefix: s.subnet.prefix, mask: s.mask, autoIpFrom: c.autoIpFrom, autoIpTo: c.autoIpTo, eth: s.eth };
}

const op = operations(['config']);

export function configRoutes(
  app: FastifyInstance,
  o: { config: ClusterConfig; subnet1: ResolvedSubnet; subnet2: ResolvedSubnet; disks: { readonly qosSupported: boolean } },
): void {
  const config = op('ViewOnly', "The cluster's configuration: IQN base, pool, the two iSCSI subnets, whether QoS limits are enforced", {
    reply: [200, described(ConfigSchema, 'The configuration')],
  });
  app.get(
    '/api/v1/config',
    config,
    async (): Promise<ClusterConfigView> => ({
      iqnBase: o.config.iqnBase,
      pool: o.config.pool,
      subnet1: subnetView(o.subnet1, o.config.subnet1),
      subnet2: subnetView(o.subnet2, o.config.subnet2),
      qosSupported: o.disks.qosSupported,
    }),
  );
}
