/** portway snapshot list|create|delete|rollback: a disk's snapshots through the HTTP API. */
import { parseArgs } from 'node:util';
import type { SnapshotList, SnapshotView } from '../api/wire.js';
import { ApiError, call, loadCliConfig } from './client.js';
import { DISK_OPTIONS, addBody } from './disk-command.js';
import { table } from './table.js';
import type { DiskView } from '../api/wire.js';

export const SNAPSHOT_USAGE = `  portway snapshot list ID [--json]            a disk's snapshots (time, size, clones)
  portway snapshot create ID NAME [--json]      take a snapshot (file images without reflink: stop the disk first)
  portway snapshot delete ID NAME
  portway snapshot rollback ID NAME             the disk must be stopped; data written since is lost
  portway snapshot clone ID NAME --name NEW [--paths N] [--subnet 1|2|3] [--ip IP ...] [--acl IQN|all]
                   [--chap-user U --chap-password-stdin] [--placement shared|spread] [--flatten] [--json]
                   a new disk with the snapshot's data (its own id, IQN and IPs)
  portway snapshot flatten ID                   copy a clone's data out of its parent snapshot (background)`;

const OPTIONS = { ...DISK_OPTIONS, flatten: { type: 'boolean' } } as const;

const out = (s: string): void => {
  process.stdout.write(`${s}\n`);
};

const size = (b: number | undefined) => (b === undefined ? '-' : b >= 1024 ** 3 ? `${(b / 1024 ** 3).toFixed(1)} GiB` : `${(b / 1024 ** 2).toFixed(1)} MiB`);

function printSnapshots(list: SnapshotView[]): void {
  out(
    table(
      ['NAME', 'TAKEN', 'SIZE', 'USED', 'CLONES'],
      list.map((s) => [
        s.progressPct === undefined ? s.name : `${s.name} (copying ${s.progressPct}%)`,
        s.createdAt,
        size(s.sizeBytes),
        size(s.usedBytes),
        s.clones.join(' ') || '-',
      ]),
    ),
  );
}

export async function snapshotCommand(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true });
  const [sub, id, name] = positionals;
  if (sub === 'flatten') {
    if (!id) throw new ApiError(0, 'usage', 'portway snapshot flatten needs a disk id');
    const c0 = await loadCliConfig();
    if (v.url) c0.url = v.url;
    if (v.token) c0.token = v.token;
    const r = await call<{ flattening: boolean }>(c0, 'POST', `/api/v1/disks/${encodeURIComponent(id)}/flatten`);
    return out(r.flattening ? `disk ${id} is being flattened` : `disk ${id} depends on no snapshot`);
  }
  const c = await loadCliConfig();
  if (v.url) c.url = v.url;
  if (v.token) c.token = v.token;
  if (!id) throw new ApiError(0, 'usage', `portway snapshot ${sub ?? ''} needs a disk id\n${SNAPSHOT_USAGE}`);
  const base = `/api/v1/disks/${encodeURIComponent(id)}/snapshots`;
  const needName = () => {
    if (!name) throw new ApiError(0, 'usage', `portway snapshot ${sub} needs a snapshot name`);
    return encodeURIComponent(name);
  };
  switch (sub) {
    case 'list': {
      const r = await call<SnapshotList>(c, 'GET', base);
      if (v.json) return out(JSON.stringify(r, null, 2));
      if (r.parent) out(`disk ${id} is a clone of ${r.parent.disk}@${r.parent.snapshot}${r.parent.flattening ? ' (flattening)' : ''}`);
      if (r.snapshots.length === 0) return out(`disk ${id} has no snapshots (${r.mode === 'instant' ? 'instant' : 'full copies, taken while stopped'})`);
      return printSnapshots(r.snapshots);
    }
    case 'create': {
      needName();
      const r = await call<{ snapshot: SnapshotView }>(c, 'POST', base, { name });
      return v.json ? out(JSON.stringify(r.snapshot, null, 2)) : out(`snapshot ${r.snapshot.name} of disk ${id} taken`);
    }
    case 'delete': {
      await call(c, 'DELETE', `${base}/${needName()}`);
      return out(`snapshot ${name} of disk ${id} deleted`);
    }
    case 'rollback': {
      await call(c, 'POST', `${base}/${needName()}/rollback`);
      return out(`disk ${id} rolled back to snapshot ${name}`);
    }
    case 'clone': {
      needName();
      const { size: _ignored, ...rest } = v;
      const body = { ...(await addBody(rest)), ...(v.flatten ? { flatten: true } : {}) };
      delete (body as { sizeGb?: unknown }).sizeGb;
      const r = await call<{ disk: DiskView }>(c, 'POST', `${base}/${needName()}/clone`, body);
      return v.json ? out(JSON.stringify(r.disk, null, 2)) : out(`disk ${r.disk.id} "${r.disk.name}" cloned from ${id}@${name} (${r.disk.status})`);
    }
    default:
      throw new ApiError(0, 'usage', `unknown snapshot command ${sub ?? ''}\n${SNAPSHOT_USAGE}`);
  }
}
