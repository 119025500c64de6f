#!/usr/bin/env node
/**
 * portway: the product's command line.
 *   portway serve [--config FILE] [--state-dir DIR] [--listen HOST:PORT] [--node NAME]
 *   portway agent [--config FILE] [--state-dir DIR] [--node NAME]   the node agent alone (cluster node)
 *   portway agent-guard --run-dir DIR   the fence guard the agent starts (src/agent/guard.ts)
 */
import { parseArgs } from 'node:util';
import { createLogger } from '../app/logging.js';
import { openDiskService, startProduct } from '../app/product.js';
import { SettingsError, checkSettings, loadSettings } from '../app/settings.js';
import { NOT_A_MEMBER_EXIT, NotAMemberError } from '../agent/membership.js';
import { ApiError } from './client.js';
import { DISK_USAGE, diskCommand, loginCommand, pathCommand } from './disk-command.js';
import { SNAPSHOT_USAGE, snapshotCommand } from './snapshot-command.js';
import { CLUSTER_USAGE, ClusterCommandError } from './cluster-command.js';
import { SETTINGS_USAGE } from './settings-command.js';

const SERVE_USAGE = `usage: portway serve [--config FILE] [--state-dir DIR] [--listen HOST:PORT] [--node NAME]
                     [--tls-cert FILE --tls-key FILE | --plain-http]
  Runs the API, the web UI and (unless agent.enabled is false) this node's agent.
  --config FILE      settings (JSON) over the defaults (README "Settings file")
  --state-dir DIR    embedded stores, logs, the self-signed certificate (default /var/lib/portway)
  --listen HOST:PORT where the API and web UI listen (default 127.0.0.1:8080)
  --node NAME        this node's name (default: the host name)
  --tls-cert FILE --tls-key FILE   serve HTTPS with this certificate and key (PEM)
  --plain-http       serve plain HTTP (only behind a TLS-terminating proxy, or on a trusted loopback)
  By default it serves HTTPS with a self-signed certificate made at the first start in DIR/tls; its
  fingerprints are printed on stdout (PORTWAY_TLS_CERT ... sha256=... spki-sha256=...).`;

const USAGE = `usage:
  portway serve   [--config FILE] [--state-dir DIR] [--listen HOST:PORT] [--node NAME] [--plain-http]  (--help)
  portway rebuild [--config FILE] [--state-dir DIR]   register every disk found in the image store
                  (each as it was: a stopped disk comes back stopped)
  portway backup  --out FILE [--config FILE] [--state-dir DIR]   the coordination store (etcd snapshot,
                  or the embedded store's files): users, roles, tokens, audit log, settings, disk keys
  portway restore --in FILE [--config FILE] [--state-dir DIR]    the embedded store, product stopped
  portway agent   [--config FILE] [--state-dir DIR] [--node NAME]   node agent only (etcd; SIGTERM gives
                  the paths back, SIGQUIT exits leaving them served for the next start to adopt)
  portway agent-guard --run-dir DIR   the fence guard (started by the agent; see docs/HA.md)
${CLUSTER_USAGE}
${SETTINGS_USAGE}
${DISK_USAGE}
${SNAPSHOT_USAGE}`;

const OPTIONS = {
  config: { type: 'string' },
  'state-dir': { type: 'string' },
  listen: { type: 'string' },
  node: { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'plain-http': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  out: { type: 'string' },
  in: { type: 'string' },
} as const;

/** portway backup --out FILE / portway restore --in FILE (src/app/backup.ts). */
async function backupOrRestore(cmd: 'backup' | 'restore', argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: OPTIONS });
  const file = cmd === 'backup' ? values.out : values.in;
  if (!file) throw new SettingsError(`portway ${cmd} needs ${cmd === 'backup' ? '--out FILE' : '--in FILE'}`);
  const s = await loadSettings(values.config);
  if (values['state-dir']) s.stateDir = values['state-dir'];
  checkSettings(s);
  const { backupStore, restoreStore } = await import('../app/backup.js');
  process.stdout.write(`${cmd === 'backup' ? await backupStore(s, file) : await restoreStore(s, file)}\n`);
}

/** Re-registers disks from their images' metadata (after the coordination store was lost). */
async function rebuild(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: OPTIONS });
  const s = await loadSettings(values.config);
  if (values['state-dir']) s.stateDir = values['state-dir'];
  const log = createLogger({ defaultLevel: 'warn' });
  const { disks, store } = await openDiskService(checkSettings(s), log);
  try {
    const r = await disks.rebuildFromImages();
    if (!r.ok) throw new Error(r.message);
    process.stdout.write(`registered ${r.registered.length} disk(s)${r.registered.length ? `: ${r.registered.join(' ')}` : ''}\n`);
    for (const k of r.skipped) process.stdout.write(`skipped ${k.image}: ${k.reason}\n`);
  } finally {
    await store.close();
  }
}

async function serve(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: OPTIONS });
  if (values.help) {
    process.stdout.write(`${SERVE_USAGE}\n`);
    return;
  }
  const s = await loadSettings(values.config);
  if (values['plain-http'] && (values['tls-cert'] || values['tls-key'])) throw new SettingsError('--plain-http and --tls-cert/--tls-key exclude each other');
  if (values['plain-http']) s.tls = { enabled: false };
  if (values['tls-cert'] || values['tls-key']) {
    s.tls = { ...s.tls, enabled: true };
    if (values['tls-cert']) s.tls.cert = values['tls-cert'];
    if (values['tls-key']) s.tls.key = values['tls-key'];
  }
  if (values['state-dir']) s.stateDir = values['state-dir'];
  if (values.node) s.node = values.node;
  if (values.listen) {
    const m = /^(.+):(\d+)$/.exec(values.listen);
    if (!m) throw new SettingsError(`--listen wants HOST:PORT, not ${values.listen}`);
    s.listenHost = (m[1] as string).replace(/^\[|\]$/g, '');
    s.listenPort = Number(m[2]);
  }
  checkSettings(s);
  const log = createLogger();
  // A cluster node that serves paths runs the fence guard (`portway agent-guard`), as `portway agent` does.
  const product = await startProduct(s, log, { guard: true });
  // Single line on stdout for scripts and tests to find.
  process.stdout.write(`${JSON.stringify({ msg: 'PORTWAY_READY', url: product.url })}\n`);
  let stopping = false;
  const stop = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ sig }, 'stopping: releasing paths');
    try {
      await product.stop({ release: true });
    } finally {
      process.exit(0);
    }
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

async function main(): Promise<void> {
  const [cmd, ...rest] = process.argv.slice(2);
  if (cmd === 'serve') return serve(rest);
  if (cmd === 'agent') return (await import('../agent/main.js')).agentCommand(rest);
  if (cmd === 'agent-guard') return (await import('../agent/guard.js')).guardCommand(rest);
  if (cmd === 'rebuild') return rebuild(rest);
  if (cmd === 'backup' || cmd === 'restore') return backupOrRestore(cmd, rest);
  if (cmd === 'login') return loginCommand(rest);
  if (cmd === 'disk') return diskCommand(rest);
  if (cmd === 'path') return pathCommand(rest);
  if (cmd === 'snapshot') return snapshotCommand(rest);
  if (cmd === 'user') return (await import('./user-command.js')).userCommand(rest);
  if (cmd === 'settings') return (await import('./settings-command.js')).settingsCommand(rest);
  if (cmd === 'cluster' || cmd === 'node') return (await import('./cluster-command.js')).clusterCommand(cmd, rest);
  process.stderr.write(`${USAGE}\n`);
  process.exit(cmd === undefined || cmd === '--help' ? 0 : 2);
}

main().catch((e) => {
  if (e instanceof ApiError) {
    process.stderr.write(`portway: ${e.message}${e.code && e.status ? ` (${e.code})` : ''}\n`);
    process.exit(e.code === 'usage' ? 2 : 1);
  }
  if (e instanceof ClusterCommandError) {
    process.stderr.write(`portway: ${e.message} (${e.code})\n`);
    process.exit(e.code === 'usage' ? 2 : 1);
  }
  if (e instanceof NotAMemberError) {
    process.stderr.write(`portway: ${e.message} (${e.code})\n`);
    process.exit(NOT_A_MEMBER_EXIT);
  }
  const msg = e instanceof SettingsError ? e.message : ((e as Error)?.message ?? String(e));
  process.stderr.write(`portway: ${msg}\n`);
  process.exit(1);
});
