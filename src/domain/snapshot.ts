/** Snapshots of a disk: their names and what the API shows of them. Pure. */
import { diskIdOfImage } from './disk.js';
import { type Failure, fail } from './outcomes.js';

/** Same rule as the image store's (src/adapters/images/types.ts SNAPSHOT_NAME). */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** The snapshot name of a request, or the failure (field `name`). */
export function parseSnapshotName(v: unknown, field = 'name'): string | Failure {
  if (v === undefined || v === null || v === '') return fail('data_missing', 'Give the snapshot a name.', field);
  if (typeof v !== 'string' || !NAME.test(v))
    return fail('invalid_snapshot_name', 'A snapshot name is 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit.', field);
  return v;
}

/** A clone as the API names it: the disk id when the image is a disk's, else the image name. */
export function cloneRef(image: string): string {
  return diskIdOfImage(image) ?? image;
}
