/**
 * Users and roles (ManageUsers): add, change role or password, delete (not yourself: the server refuses
 * it too, self_delete); add, edit (permissions) and delete custom roles; built-in roles are read-only.
 */
import { useCallback, useEffect, useId, useState } from 'react';
import {
  type ApiErrorBody,
  createRole,
  createUser,
  deleteRole,
  deleteUser,
  listRoles,
  listUsers,
  PERMISSIONS,
  type Permission,
  type RoleView,
  type UserView,
  updateRole,
  updateUser,
} from './api';
import { CardTable } from './CardTable';
import { ConfirmDialog } from './ConfirmDialog';
import { Field, FieldError, FormActions, FormError, focusError, LoadError, placeError, TextField, useFormSubmit } from './Field';
import { formatDate } from './format';
import { Modal } from './Modal';
import { useNotify } from './notify';
import { PageHead } from './PageHead';
import { useMe, usePermissions } from './session';

const PERMISSION_TEXT: Record<Permission, string> = {
  AddDisk: 'Add disks, attach images',
  EditDisk: 'Edit disks',
  DeleteDisk: 'Delete and detach disks',
  StartStopDisk: 'Start and stop disks',
  AssignPaths: 'Move paths, rebalance, drain nodes',
  ManageSnapshots: 'Take, delete and roll back snapshots',
  ManageUsers: 'Manage users and roles',
  ManageConfig: 'Change cluster settings',
  ViewOnly: 'View everything',
};

type Dialog =
  | { kind: 'add-user' }
  | { kind: 'edit-user'; user: UserView }
  | { kind: 'delete-user'; user: UserView }
  | { kind: 'add-role' }
  | { kind: 'edit-role'; role: RoleView }
  | { kind: 'delete-role'; role: RoleView };

export function UsersPage() {
  const { can } = usePermissions();
  const me = useMe();
  const notify = useNotify();
  const [users, setUsers] = useState<UserView[] | undefined>(undefined);
  const [roles, setRoles] = useState<RoleView[] | undefined>(undefined);
  const [error, setError] = useState<ApiErrorBody | undefined>(undefined);
  const [dialog, setDialog] = useState<Dialog | undefined>(undefined);

  const load = useCallback(() => {
    void Promise.all([listUsers(), listRoles()]).then(([u, r]) => {
      if (u.ok) setUsers([...u.value].sort((a, b) => a.name.localeCompare(b.name)));
      if (r.ok) setRoles(r.value);
      setError(!u.ok ? u.error : !r.ok ? r.error : undefined);
    });
  }, []);
  const allowed = can('ManageUsers');
  useEffect(() => {
    if (allowed) load();
  }, [allowed, load]);

  if (!allowed) {
    return (
      <>
        <PageHead title="Users and roles" />
        <p className="alert alert-warning" data-testid="no-permission">
          You need the ManageUsers permission to see and manage users.
        </p>
      </>
    );
  }

  const close = (): void => setDialog(undefined);
  const done = (text: string): void => {
    close();
    notify(text);
    load();
  };

  return (
    <>
      <PageHead
        title="Users and roles"
        sub={<span className="page-sub">Who may log in, and what each role may do.</span>}
        actions={
          <>
            <button type="button" className="button" onClick={() => setDialog({ kind: 'add-role' })} data-testid="add-role">
              Add role
            </button>
            <button type="button" className="button button-primary" onClick={() => setDialog({ kind: 'add-user' })} data-testid="add-user">
              <span aria-hidden="true" className="plus">
                +
              </span>
              Add user
            </button>
          </>
        }
      />
      {error ? <LoadError what="users and roles" error={error} onRetry={load} /> : null}

      <CardTable
        title="Users"
        rows={users}
        failed={error !== undefined}
        testId="users-table"
        rowKey={(u) => u.name}
        rowTestId={(u) => `user-row-${u.name}`}
        columns={[
          {
            head: 'Name',
            className: 'cell-strong',
            cell: (u) => (
              <>
                {u.name}
                {u.name === me.user.name ? <span className="muted"> (you)</span> : null}
              </>
            ),
          },
          { head: 'Role', cell: (u) => u.role, cellTestId: (u) => `user-role-${u.name}` },
          { head: 'Created', className: 'nowrap', cell: (u) => formatDate(u.createdAt) },
          { head: 'Changed', className: 'nowrap', cell: (u) => formatDate(u.updatedAt) },
          {
            head: 'Actions',
            srOnly: true,
            className: 'cell-actions',
            cell: (u) => (
              <div className="button-row">
                <button
                  type="button"
                  className="button button-small"
                  onClick={() => setDialog({ kind: 'edit-user', user: u })}
                  aria-label={`Edit user ${u.name}`}
                  data-testid={`edit-user-${u.name}`}
                >
                  Edit
                </button>
                {u.name === me.user.name ? null : (
                  <button
                    type="button"
                    className="button button-small button-danger-outline"
                    onClick={() => setDialog({ kind: 'delete-user', user: u })}
                    aria-label={`Delete user ${u.name}`}
                    data-testid={`delete-user-${u.name}`}
                  >
                    Delete
                  </button>
                )}
              </div>
            ),
          },
        ]}
      />

      <CardTable
        title="Roles"
        rows={roles}
        failed={error !== undefined}
        testId="roles-table"
        rowKey={(r) => r.name}
        rowTestId={(r) => `role-row-${r.name}`}
        columns={[
          {
            head: 'Role',
            className: 'cell-strong',
            cell: (r) => (
              <>
                {r.name}
                {r.builtin ? <span className="tag">built-in</span> : null}
              </>
            ),
          },
          {
            head: 'Permissions',
            cell: (r) => (
              <ul className="chips">
                {r.permissions.map((p) => (
                  <li key={p} className="chip" title={PERMISSION_TEXT[p]}>
                    {p}
                  </li>
                ))}
              </ul>
            ),
          },
          {
            head: 'Actions',
            srOnly: true,
            className: 'cell-actions',
            cell: (r) =>
              r.builtin ? (
                <span className="muted" data-testid={`role-fixed-${r.name}`}>
                  read-only
                </span>
              ) : (
                <div className="button-row">
                  <button
                    type="button"
                    className="button button-small"
                    onClick={() => setDialog({ kind: 'edit-role', role: r })}
                    aria-label={`Edit role ${r.name}`}
                    data-testid={`edit-role-${r.name}`}
                  >
                    Edit
                  </button>
                  <button
                    type="button"
                    className="button button-small button-danger-outline"
                    onClick={() => setDialog({ kind: 'delete-role', role: r })}
                    aria-label={`Delete role ${r.name}`}
                    data-testid={`delete-role-${r.name}`}
                  >
                    Delete
                  </button>
                </div>
              ),
          },
        ]}
      />

      {dialog?.kind === 'add-user' ? (
        <Modal title="Add user" onClose={close} testId="add-user-dialog">
          <UserForm roles={roles ?? []} onCancel={close} onDone={(u) => done(`User ${u.name} added.`)} />
        </Modal>
      ) : null}
      {dialog?.kind === 'edit-user' ? (
        <Modal title={`Edit user ${dialog.user.name}`} onClose={close} testId="edit-user-dialog">
          <UserForm roles={roles ?? []} user={dialog.user} onCancel={close} onDone={(u) => done(`User ${u.name} saved.`)} />
        </Modal>
      ) : null}
      {dialog?.kind === 'delete-user' ? (
        <ConfirmDialog
          title={`Delete user ${dialog.user.name}`}
          confirmLabel="Delete user"
          danger
          onClose={close}
          testId="delete-user-dialog"
          onConfirm={async () => {
            const r = await deleteUser(dialog.user.name);
            if (!r.ok) return r.error;
            done(`User ${dialog.user.name} deleted.`);
            return undefined;
          }}
        >
          <p>
            Delete <strong>{dialog.user.name}</strong>? Their sessions and API tokens stop working at once.
          </p>
        </ConfirmDialog>
      ) : null}
      {dialog?.kind === 'add-role' ? (
        <Modal title="Add role" onClose={close} testId="add-role-dialog">
          <RoleForm onCancel={close} onDone={(r) => done(`Role ${r.name} added.`)} />
        </Modal>
      ) : null}
      {dialog?.kind === 'edit-role' ? (
        <Modal title={`Edit role ${dialog.role.name}`} onClose={close} testId="edit-role-dialog">
          <RoleForm role={dialog.role} onCancel={close} onDone={(r) => done(`Role ${r.name} saved.`)} />
        </Modal>
      ) : null}
      {dialog?.kind === 'delete-role' ? (
        <ConfirmDialog
          title={`Delete role ${dialog.role.name}`}
          confirmLabel="Delete role"
          danger
          onClose={close}
          onConfirm={async () => {
            const r = await deleteRole(dialog.role.name);
            if (!r.ok) return r.error;
            done(`Role ${dialog.role.name} deleted.`);
            return undefined;
          }}
        >
          <p>
            Delete the role <strong>{dialog.role.name}</strong>? A role someone holds cannot be deleted.
          </p>
        </ConfirmDialog>
      ) : null}
    </>
  );
}

function UserForm({ roles, user, onCancel, onDone }: { roles: RoleView[]; user?: UserView; onCancel: () => void; onDone: (u: UserView) => void }) {
  const uid = useId();
  const id = (f: string): string => `${uid}-${f}`;
  const [name, setName] = useState(user?.name ?? '');
  const [role, setRole] = useState(user?.role ?? 'viewer');
  const [password, setPassword] = useState('');
  const { busy, error, errorFor, onSubmit } = useFormSubmit(
    () =>
      user
        ? updateUser(user.name, { ...(role !== user.role ? { role } : {}), ...(password !== '' ? { password } : {}) })
        : createUser({ name: name.trim(), password, role }),
    {
      onDone,
      place: (err) => placeError(err, user ? ['role', 'password'] : ['name', 'password', 'role']),
      focus: (shown) => focusError(shown, id, id('form-error')),
    },
  );

  return (
    <form className="form" onSubmit={onSubmit} noValidate aria-busy={busy} data-testid="user-form">
      <FormError id={id('form-error')} error={error} />
      {user ? null : (
        <TextField
          id={id('name')}
          label="User name"
          error={errorFor('name')}
          errorTestId="error-user-name"
          hint="2-32 characters: a-z, 0-9, . _ -, starting with a letter."
          autoComplete="off"
          spellCheck={false}
          data-autofocus
          data-testid="user-name"
          value={name}
          onChange={setName}
        />
      )}
      <Field id={id('role')} label="Role" error={errorFor('role')} errorTestId="error-user-role">
        {(c) => (
          <select
            {...c}
            className="select"
            data-testid="user-role"
            value={role}
            onChange={(e) => setRole(e.target.value)}
            data-autofocus={user ? true : undefined}
          >
            {roles.length === 0 ? <option value={role}>{role}</option> : null}
            {roles.map((r) => (
              <option key={r.name} value={r.name}>
                {r.name}
              </option>
            ))}
          </select>
        )}
      </Field>
      <TextField
        id={id('password')}
        label={user ? 'New password' : 'Password'}
        error={errorFor('password')}
        errorTestId="error-user-password"
        hint={user ? 'Leave empty to keep the password. A new one logs the user out everywhere.' : 'At least 10 characters.'}
        type="password"
        autoComplete="new-password"
        data-testid="user-password"
        value={password}
        onChange={setPassword}
      />
      <FormActions label={user ? 'Save' : 'Add user'} busy={busy} onCancel={onCancel} testId="user-submit" />
    </form>
  );
}

/** Adds a role, or (role given) changes a custom role's permissions; its users get them at once. */
function RoleForm({ role, onCancel, onDone }: { role?: RoleView; onCancel: () => void; onDone: (r: RoleView) => void }) {
  const uid = useId();
  const id = (f: string): string => `${uid}-${f}`;
  const [name, setName] = useState(role?.name ?? '');
  const [perms, setPerms] = useState<Set<Permission>>(new Set(role?.permissions ?? ['ViewOnly']));
  const send = () => {
    const permissions = PERMISSIONS.filter((p) => perms.has(p));
    return role ? updateRole(role.name, { permissions }) : createRole({ name: name.trim(), permissions });
  };
  const { busy, error, errorFor, onSubmit } = useFormSubmit(send, {
    onDone,
    place: (err) => placeError(err, ['name', 'permissions']),
    focus: (shown) => focusError(shown, (f) => (f === 'permissions' ? id('perm-ViewOnly') : id(f)), id('form-error')),
  });

  return (
    <form className="form" onSubmit={onSubmit} noValidate aria-busy={busy} data-testid="role-form">
      <FormError id={id('form-error')} error={error} />
      {role ? (
        <p className="muted">Users holding this role get the new permissions at once.</p>
      ) : (
        <TextField
          id={id('name')}
          label="Role name"
          error={errorFor('name')}
          autoComplete="off"
          spellCheck={false}
          data-autofocus
          data-testid="role-name"
          value={name}
          onChange={setName}
        />
      )}
      <fieldset className="fieldset" aria-describedby={errorFor('permissions') ? id('perm-error') : undefined}>
        <legend>Permissions</legend>
        <div className="check-grid">
          {PERMISSIONS.map((p) => (
            <label key={p} className="radio" htmlFor={id(`perm-${p}`)}>
              <input
                id={id(`perm-${p}`)}
                type="checkbox"
                checked={perms.has(p)}
                data-testid={`role-perm-${p}`}
                data-autofocus={role && p === PERMISSIONS[0] ? true : undefined}
                onChange={(e) =>
                  setPerms((prev) => {
                    const next = new Set(prev);
                    if (e.target.checked) next.add(p);
                    else next.delete(p);
                    return next;
                  })
                }
              />
              <span>
                <span className="mono">{p}</span> <span className="muted">— {PERMISSION_TEXT[p]}</span>
              </span>
            </label>
          ))}
        </div>
        <FieldError id={id('perm-error')} error={errorFor('permissions')} />
      </fieldset>
      <FormActions label={role ? 'Save' : 'Add role'} busy={busy} onCancel={onCancel} testId="role-submit" />
    </form>
  );
}
