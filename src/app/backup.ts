/**
 * `portway backup` / `portway restore` of the coordination store: users, roles, tokens, sessions, the
 * audit log, settings and the disk keys.
 *
 * etcd: `etcdctl snapshot save` from one endpoint (etcd's own consistent snapshot), with the node
 * file's TLS files and user; restoring it is etcd's own `etcdctl snapshot restore` into new data
 * directories with etcd stopped (README, "Backup and restore"), not something one node does alone.
 * Embedded store: its snapshot and write-ahead log in one file (a consistent prefix even while the
 * product runs: the snapshot only changes when the store is opened, the log is append-only);
 * restore with the product stopped, the current store kept beside it.
 */
import { chmod, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../adapters/exec.js';
import { type EtcdSettings, type Settings, SettingsError } from './settings.js';

const FORMAT = 'portway-embedded-backup';

export class BackupError extends Error {}

interface EmbeddedBackup {
  format: typeof FORMAT;
  v: 1;
  createdAt: string;
  snapshot: string | null;
  wal: string | null;
}

async function readOrNull(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** etcdctl's flags and environment for the node file's etcd (the password in the environment, never argv). */
async function etcdctl(c: EtcdSettings): Promise<{ args: string[]; env: NodeJS.ProcessEnv }> {
  const args = [`--endpoints=${c.endpoints[0]}`, '--dial-timeout=5s', '--command-timeout=120s'];
  if (c.ca) args.push(`--cacert=${c.ca}`);
  if (c.cert && c.key) args.push(`--cert=${c.cert}`, `--key=${c.key}`);
  const env: NodeJS.ProcessEnv = { ...process.env, ETCDCTL_API: '3' };
  if (c.username) {
    let pw = c.password;
    if (pw === undefined && c.passwordFile) {
      try {
        pw = (await readFile(c.passwordFile, 'utf8')).replace(/\r?\n$/, '');
      } catch (e) {
        throw new SettingsError(`cannot read coord.passwordFile ${c.passwordFile}: ${(e as Error).message}`);
      }
    }
    env.ETCDCTL_USER = `${c.username}:${pw ?? ''}`;
  }
  return { args, env };
}

/** Writes a backup of the coordination store to `out` (mode 0600: it holds password hashes). */
export async function backupStore(s: Settings, out: string): Promise<string> {
  if (s.coord.kind === 'etcd') {
    const { args, env } = await etcdctl(s.coord);
    try {
      await run('etcdctl', [...args, 'snapshot', 'save', out], { env, timeoutMs: 180_000 });
    } catch (e) {
      throw new BackupError(`etcdctl snapshot save failed: ${(e as Error).message}`);
    }
    await chmod(out, 0o600);
    return `etcd snapshot of ${s.coord.endpoints[0]} written to ${out}`;
  }
  const dir = join(s.stateDir, 'coord');
  const b: EmbeddedBackup = {
    format: FORMAT,
    v: 1,
    createdAt: new Date().toISOString(),
    snapshot: await readOrNull(join(dir, 'snapshot.json')),
    wal: await readOrNull(join(dir, 'wal.log')),
  };
  if (b.snapshot === null && b.wal === null) throw new BackupError(`no embedded store in ${dir} (wrong --state-dir?)`);
  await writeFile(out, JSON.stringify(b), { mode: 0o600 });
  return `embedded store of ${dir} written to ${out}`;
}

function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Puts a backup made by backupStore back (embedded store, product stopped). */
export async function restoreStore(s: Settings, file: string): Promise<string> {
  if (s.coord.kind === 'etcd')
    throw new BackupError(
      'an etcd snapshot is restored by etcd itself: stop every etcd member, run `etcdctl snapshot restore` into a new data directory on each, start them (README, "Backup and restore")',
    );
  let b: EmbeddedBackup;
  try {
    b = JSON.parse(await readFile(file, 'utf8')) as EmbeddedBackup;
  } catch (e) {
    throw new BackupError(`cannot read the backup ${file}: ${(e as Error).message}`);
  }
  if (b?.format !== FORMAT || b.v !== 1) throw new BackupError(`${file} is not a Portway embedded-store backup`);
  const dir = join(s.stateDir, 'coord');
  const lockPid = Number((await readOrNull(join(dir, 'lock')))?.trim());
  if (pidAlive(lockPid)) throw new BackupError(`the embedded store in ${dir} is in use by process ${lockPid}: stop the product first`);
  const staged = `${dir}.restoring`;
  await rm(staged, { recursive: true, force: true });
  await mkdir(staged, { recursive: true, mode: 0o700 });
  if (b.snapshot !== null) await writeFile(join(staged, 'snapshot.json'), b.snapshot, { mode: 0o600 });
  if (b.wal !== null) await writeFile(join(staged, 'wal.log'), b.wal, { mode: 0o600 });
  let kept = '';
  try {
    await stat(dir);
    kept = `${dir}.before-restore-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    await rename(dir, kept);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  await rename(staged, dir);
  return `restored the embedded store in ${dir} from ${file} (made ${b.createdAt})${kept ? `; the store it replaced is in ${kept}` : ''}`;
}
