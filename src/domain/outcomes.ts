/**
 * Every outcome of a disk operation the user can cause, with a stable code and a human message.
 * docs/PRODUCT.md lists when each happens.
 */

export type FailureCode =
  | 'data_missing'
  | 'invalid_name'
  | 'invalid_size'
  | 'invalid_path_count'
  | 'invalid_subnet'
  | 'invalid_ip_mode'
  | 'invalid_placement'
  | 'invalid_ip'
  | 'wrong_subnet'
  | 'wrong_data'
  | 'ip_used_already'
  | 'ip_out_of_range'
  | 'invalid_iqn'
  | 'chap_missing'
  | 'invalid_chap'
  | 'disk_name_exists'
  | 'disk_exists'
  | 'disk_not_found'
  | 'disk_not_stopped'
  | 'disk_busy'
  | 'image_not_found'
  | 'meta_unreadable'
  | 'disk_list_unreadable'
  | 'no_disk_id'
  | 'storage_error'
  | 'coordination_error'
  | 'server_closing'
  | 'error';

/** The request field at fault, as the add-disk form names it. */
export type Field = 'name' | 'sizeGb' | 'activePaths' | 'subnet' | 'ipMode' | 'placement' | 'path1' | 'path2' | 'acl.iqn' | 'chap.user' | 'chap.password';

export interface Failure {
  ok: false;
  code: FailureCode;
  message: string;
  field?: Field;
}

export function fail(code: FailureCode, message: string, field?: Field): Failure {
  return field === undefined ? { ok: false, code, message } : { ok: false, code, message, field };
}

/** HTTP status for each failure: the user's input (400), a conflict with existing state (409), or ours (503/500). */
export function httpStatusOf(code: FailureCode): number {
  switch (code) {
    case 'disk_name_exists':
    case 'disk_exists':
    case 'ip_used_already':
    case 'ip_out_of_range':
    case 'no_disk_id':
    case 'disk_not_stopped':
    case 'disk_busy':
      return 409;
    case 'disk_not_found':
    case 'image_not_found':
      return 404;
    case 'meta_unreadable':
    case 'disk_list_unreadable':
    case 'storage_error':
    case 'coordination_error':
    case 'server_closing':
      return 503;
    case 'error':
      return 500;
    default:
      return 400;
  }
}
