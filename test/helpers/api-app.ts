/**
 * The HTTP API in this process over the embedded stores (an in-memory coordination store, sparse image
 * files in a temp dir), without an agent or tgtd: for route tests with app.inject (milliseconds each).
 * Disks added here stay `starting` (no agent serves them); everything else behaves as in the product.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, InjectOptions, RouteOptions } from 'fastify';
import pino from 'pino';
import { EmbeddedStore } from '../../src/adapters/coord/embedded-store.js';
import { FileImageStore } from '../../src/adapters/images/file-store.js';
import { buildApi } from '../../src/api/server.js';
import { type ClusterConfig, checkConfig } from '../../src/domain/config.js';
import { AuthService } from '../../src/services/auth-service.js';
import { DiskService } from '../../src/services/disk-service.js';
import { PathService } from '../../src/services/path-service.js';
import { ClusterSettingsService } from '../../src/services/cluster-settings-service.js';
import { clusterSettingsOf, withInterfaces } from '../../src/domain/cluster-settings.js';

export const ADMIN_PW = 'Correct-Horse-42';
const FAST_SCRYPT = { N: 1024, r: 8, p: 1, keyLen: 32 };

export const API_CONFIG: ClusterConfig = {
  iqnBase: 'iqn.2016-05.io.portway.test',
  pool: 'rbd',
  subnet1: { cidr: '127.90.1.0/24', autoIpFrom: '127.90.1.10', autoIpTo: '127.90.1.250', eth: 'lo' },
  subnet2: { cidr: '127.90.2.0/24', autoIpFrom: '127.90.2.10', autoIpTo: '127.90.2.250', eth: 'lo' },
};

export interface Reply {
  status: number;
  json: any;
  headers: Record<string, unknown>;
  body: string;
}

/** A caller: a session (cookie + CSRF token), an API token, or nobody. */
export type Caller = (method: InjectOptions['method'], url: string, body?: unknown, headers?: Record<string, string>) => Promise<Reply>;

export interface ApiApp {
  app: FastifyInstance;
  store: EmbeddedStore;
  images: FileImageStore;
  auth: AuthService;
  disks: DiskService;
  clusterSettings: ClusterSettingsService;
  /** Every route registered, as Fastify's onRoute saw it. */
  routes: RouteOptions[];
  /** No credentials. */
  anonymous: Caller;
  /** Logs in and returns a caller with the session cookie and the CSRF token. */
  login(user: string, password: string): Promise<Caller>;
  /** A user with the role, logged in. */
  userWithRole(name: string, role: string): Promise<Caller>;
  close(): Promise<void>;
}

export async function startApiApp(opts: { auth?: boolean } = {}): Promise<ApiApp> {
  const dir = mkdtempSync(join(tmpdir(), 'portway-api-'));
  const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const store = new EmbeddedStore();
  const images = await new FileImageStore(join(dir, 'images')).init();
  const checked = checkConfig(API_CONFIG);
  if (!checked.ok) throw new Error(checked.message);
  const disks = new DiskService({ store, images, subnet1: checked.subnet1, subnet2: checked.subnet2, iqnBase: API_CONFIG.iqnBase, pool: API_CONFIG.pool, log });
  const auth = new AuthService({ store, log, sessionIdleMs: 3600_000, scrypt: FAST_SCRYPT });
  const enabled = opts.auth ?? true;
  if (enabled) await auth.bootstrap({ adminPassword: ADMIN_PW, print: () => {} });
  const paths = new PathService({ store, log, moveTimeoutMs: 300, drainTimeoutMs: 300, pollMs: 20 });
  // The cluster settings in the store, watched: a change reaches the disk service (as in the product).
  const clusterSettings = new ClusterSettingsService({ store, log });
  const seeded = await clusterSettings.seed(clusterSettingsOf(API_CONFIG, 10), 'test');
  await clusterSettings.start(seeded.stored);
  let current = { config: API_CONFIG, subnet1: checked.subnet1, subnet2: checked.subnet2, stored: seeded.stored };
  clusterSettings.onChange((stored) => {
    const config = withInterfaces(stored.settings, { subnet1: 'lo', subnet2: 'lo' });
    const c = checkConfig(config);
    if (!c.ok) return;
    current = { config, subnet1: c.subnet1, subnet2: c.subnet2, stored };
    disks.setCluster({ subnet1: c.subnet1, subnet2: c.subnet2, iqnBase: config.iqnBase, pool: config.pool });
  });
  const routes: RouteOptions[] = [];
  const app = await buildApi({
    disks,
    paths,
    config: API_CONFIG,
    subnet1: checked.subnet1,
    subnet2: checked.subnet2,
    current: () => ({ ...current, backend: { images: { kind: 'file' }, coord: { kind: 'embedded' } } }),
    clusterSettings,
    log,
    auth: { service: auth, enabled, secureCookie: false },
    onRoute: (r) => routes.push(r),
  });
  await app.ready();

  const caller =
    (base: Record<string, string>, csrf?: string): Caller =>
    async (method, url, body, headers = {}) => {
      const h: Record<string, string> = { ...base, ...headers };
      if (csrf !== undefined && method !== 'GET' && method !== 'HEAD' && !('x-csrf-token' in h)) h['x-csrf-token'] = csrf;
      const res = await app.inject({
        method,
        url,
        headers: body === undefined ? h : { 'content-type': 'application/json', ...h },
        ...(body === undefined ? {} : { payload: typeof body === 'string' ? body : JSON.stringify(body) }),
      });
      let json: unknown;
      try {
        json = JSON.parse(res.body);
      } catch {
        json = undefined;
      }
      return { status: res.statusCode, json, headers: res.headers, body: res.body };
    };

  const login = async (user: string, password: string): Promise<Caller> => {
    const res = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: user, password } });
    if (res.statusCode !== 200) throw new Error(`login as ${user}: ${res.statusCode} ${res.body}`);
    const cookie = res.cookies.find((c) => c.name === 'portway_session');
    if (!cookie) throw new Error('no session cookie');
    return caller({ cookie: `portway_session=${cookie.value}` }, (res.json() as { csrfToken: string }).csrfToken);
  };

  return {
    app,
    store,
    images,
    auth,
    disks,
    routes,
    anonymous: caller({}),
    login,
    async userWithRole(name, role) {
      const pw = `${name}-Password-1`;
      const r = await auth.createUser({ name, password: pw, role });
      if (!r.ok && r.code !== 'user_exists') throw new Error(`user ${name}: ${r.message}`);
      return login(name, pw);
    },
    clusterSettings,
    async close() {
      await app.close();
      await clusterSettings.close();
      await disks.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
