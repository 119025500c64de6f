/**
 * The probe of what Portway runs on, for the event service: Ceph's health report (Ceph mode) and the
 * etcd members' status (etcd). Asked by the one process that runs the event service, every few seconds.
 */
import type { Logger } from 'pino';
import type { CoordStore } from '../adapters/coord/types.js';
import type { ImageStore } from '../adapters/images/types.js';
import type { Problem } from '../domain/health.js';
import { type CephHealth, cephProblem, etcdProblems } from '../domain/infra-health.js';
import { errText } from '../util/errors.js';

/** The probe over the stores' health reports; undefined when neither has one (files, embedded store). */
export function infraProbe(o: { store: CoordStore; images: ImageStore; log: Logger }): (() => Promise<Problem[]>) | undefined {
  const { store, images, log } = o;
  const ceph = images.cephHealth?.bind(images);
  const etcd = store.memberStatus?.bind(store);
  if (!ceph && !etcd) return undefined;
  let lastCeph = '';
  return async () => {
    const [c, e] = await Promise.all([
      ceph
        ? ceph().then(
            (h): CephHealth | undefined => h,
            (err: unknown) => {
              log.warn({ err: errText(err) }, 'ceph health: no answer');
              return undefined;
            },
          )
        : Promise.resolve(null),
      etcd ? etcd() : Promise.resolve([]),
    ]);
    const out: Problem[] = [];
    if (c !== null) {
      const p = cephProblem(c);
      const text = c ? `${c.status} ${c.checks.map((x) => `${x.code}: ${x.summary}`).join('; ')}` : 'no answer';
      if (text !== lastCeph && c) log.info({ status: c.status, checks: c.checks }, 'ceph health');
      lastCeph = text;
      if (p) out.push(p);
    }
    out.push(...etcdProblems(e));
    return out;
  };
}
