/** Editing a disk: rename, grow, ACL, CHAP, placement, QoS limits. Pure. */
import { obj, parseAcl, parseMutual, parsePlacement } from './add-disk.js';
import type { DiskMeta } from './disk.js';
import { type Failure, fail } from './outcomes.js';
import { hasQos, normalQos, parseQos } from './qos.js';
import { checkChap, checkName, parseSizeGb } from './validate.js';

export interface EditDiskRequest {
  name?: unknown;
  sizeGb?: unknown;
  acl?: unknown;
  /** {mode:'none'} removes CHAP; {mode:'chap', user, password?}: password may be left out to keep it (same user). */
  auth?: unknown;
  /** 'shared' or 'spread': the agents move the paths to match (a started disk stays served). */
  placement?: unknown;
  /** QoS limits: each given limit set (a number) or removed (0 / null); those left out kept. */
  qos?: unknown;
}

/** The edited metadata, or the failure the user sees. Fields left out are kept. */
export function applyEdit(meta: DiskMeta, req: EditDiskRequest): DiskMeta | Failure {
  const next: DiskMeta = { ...meta };
  if (req.name !== undefined) {
    const f = checkName(req.name);
    if (f) return f;
    next.name = req.name as string;
  }
  if (req.sizeGb !== undefined) {
    const size = parseSizeGb(req.sizeGb);
    if (typeof size !== 'number') return size;
    if (size < meta.sizeGb) return fail('invalid_size', `Disks can only grow: ${meta.name} is ${meta.sizeGb} GiB, ${size} GiB is smaller.`, 'sizeGb');
    next.sizeGb = size;
  }
  if (req.acl !== undefined) {
    const acl = parseAcl(req.acl);
    if (typeof acl !== 'string') return acl;
    next.acl = acl;
  }
  if (req.auth !== undefined) {
    const auth = obj(req.auth);
    if (auth?.mode === 'none') {
      next.chapUser = '';
      next.chapPassword = '';
      delete next.targetChapUser;
      delete next.targetChapPassword;
    } else if (auth?.mode === 'chap') {
      const keep = auth.password === undefined && auth.user === meta.chapUser && meta.chapPassword !== '';
      const password = keep ? meta.chapPassword : auth.password;
      const f = checkChap(auth.user, password);
      if (f) return f;
      next.chapUser = auth.user as string;
      next.chapPassword = password as string;
      const mutual = parseMutual(
        auth,
        password as string,
        meta.targetChapUser ? { user: meta.targetChapUser, password: meta.targetChapPassword ?? '' } : undefined,
      );
      if ('ok' in mutual) return mutual;
      delete next.targetChapUser;
      delete next.targetChapPassword;
      Object.assign(next, mutual);
    } else {
      return fail('invalid_chap', 'Authentication must be none or CHAP.', 'chap.user');
    }
  }
  if (req.placement !== undefined) {
    const placement = parsePlacement(req.placement);
    if (typeof placement !== 'string') return placement;
    next.placement = placement;
  }
  if (req.qos !== undefined) {
    const qos = parseQos(req.qos, meta.qos);
    if ('ok' in qos) return qos;
    if (hasQos(qos)) next.qos = normalQos(qos);
    else delete next.qos;
  }
  return next;
}
