/**
 * The cluster's configuration as this server works with it (GET /api/v1/config: the cluster settings
 * with this node's interfaces, the backends), and the cluster settings in the coordination store
 * (GET/PUT /api/v1/settings/cluster: versioned, ManageConfig, audited with what changed).
 */
import type { FastifyInstance } from 'fastify';
import type { ClusterConfig, ResolvedSubnet } from '../../domain/config.js';
import type { StoredClusterSettings } from '../../domain/cluster-settings.js';
import { cidrText } from '../../domain/ip.js';
import { type Failure, fail } from '../../domain/outcomes.js';
import type { ClusterSettingsService } from '../../services/cluster-settings-service.js';
import { audit } from '../auth-plugin.js';
import { answer, described, operations } from '../route.js';
import { ClusterConfigView as ConfigSchema, ClusterSettingsChanged, ClusterSettingsPatch, ClusterSettingsView } from '../schemas.js';
import type { ClusterConfigView, ClusterSettingsPatch as Patch, SubnetView } from '../wire.js';

function subnetView(s: ResolvedSubnet, c: ClusterConfig['subnet1']): SubnetView {
  const cidr = cidrText(s.subnet);
  return { cidr, network: cidr.split('/')[0] as string, prefix: s.subnet.prefix, mask: s.mask, autoIpFrom: c.autoIpFrom, autoIpTo: c.autoIpTo, eth: s.eth };
}

/** What the server works with now (changes as the cluster settings change). */
export interface ConfigSource {
  config: ClusterConfig;
  subnet1: ResolvedSubnet;
  subnet2: ResolvedSubnet;
  stored?: StoredClusterSettings;
  backend?: ClusterConfigView['backend'];
}

const op = operations(['config']);

export function configRoutes(
  app: FastifyInstance,
  current: () => ConfigSource,
  disks: { readonly qosSupported: boolean },
  settings?: ClusterSettingsService,
): void {
  const config = op(
    'ViewOnly',
    "The cluster's configuration as this server uses it: IQN base, pool, the two iSCSI subnets (with this node's interfaces), the backends, whether QoS limits are enforced",
    {
      reply: [200, described(ConfigSchema, 'The configuration')],
    },
  );
  app.get('/api/v1/config', config, async (): Promise<ClusterConfigView> => {
    const c = current();
    return {
      iqnBase: c.config.iqnBase,
      pool: c.config.pool,
      subnet1: subnetView(c.subnet1, c.config.subnet1),
      subnet2: subnetView(c.subnet2, c.config.subnet2),
      ...(c.stored
        ? { version: c.stored.version, leaseTtlSeconds: c.stored.settings.leaseTtlSeconds, changedAt: c.stored.changedAt, changedBy: c.stored.changedBy }
        : {}),
      ...(c.backend ? { backend: c.backend } : {}),
      qosSupported: disks.qosSupported,
    };
  });
  if (!settings) return;

  const get = op('ViewOnly', 'The cluster settings in the coordination store (one copy for the cluster) and their version', {
    reply: [200, described(ClusterSettingsView, 'The settings')],
    errors: [409, 503],
  });
  app.get('/api/v1/settings/cluster', get, async (_req, reply) => {
    const r: ({ ok: true } & { s: StoredClusterSettings }) | Failure = await settings.get().then(
      (x) =>
        x ? { ok: true as const, s: x } : fail('cluster_not_initialised', 'The cluster has no settings yet: run `portway cluster init` on the first node.'),
      () => fail('coordination_error', 'The cluster settings cannot be read right now; try again.'),
    );
    return answer(reply, r, (x) => x.s);
  });

  const put = op('ManageConfig', 'Change the cluster settings: every API server and agent picks the new version up without a restart', {
    description:
      'Validated as the settings file is (invalid_settings, with details.field). A subnet change that would leave a served IP outside its subnet is refused (settings_strand_ip, details.paths); a pool change while disks exist likewise (settings_pool_in_use). With version, the change is refused if the settings moved on (settings_version_conflict).',
    body: ClusterSettingsPatch,
    reply: [200, described(ClusterSettingsChanged, 'Changed (changes: empty when nothing differed)')],
    errors: [400, 409, 503],
  });
  app.put<{ Body: Patch }>('/api/v1/settings/cluster', put, async (req, reply) => {
    const { version, ...patch } = req.body;
    const by = req.principal?.user ?? 'unknown';
    const r = await settings.change(patch, by, version);
    await audit(
      req,
      'settings.cluster',
      'settings:cluster',
      r.ok ? 'ok' : 'failed',
      r.ok ? { version: r.after.version, changes: r.changes } : { code: r.code, ...(r.field ? { field: r.field } : {}) },
    );
    return answer(reply, r, (x) => ({ ...x.after, changes: x.changes }));
  });
}
