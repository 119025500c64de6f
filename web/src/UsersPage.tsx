/** Users and roles (ManageUsers): add, change role or password, delete; add and delete custom roles. */
import { type FormEvent, useCallback, useEffect, useId, useState } from 'react';
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
  updateUser,
} from './api';
import { ConfirmDialog } from './ConfirmDialog';
import { Field, FieldError, FormActions, FormError, focusError, LoadError, placeError, type ShownError } from './Field';
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
  ManageUsers: 'Manage users and roles',
  ManageConfig: 'Change cluster settings',
  ViewOnly: 'View everything',
};

type Dialog =
  | { kind: 'add-user' }
  | { kind: 'edit-user'; user: UserView }
  | { kind: 'delete-user'; user: UserView }
  | { kind: 'add-role' }
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

      <section className="card" aria-labelledby="users-h">
        <h2 id="users-h" className="card-title card-title-bar">
          Users
        </h2>
        {users === undefined ? (
          <p className="empty">{error ? '' : 'Loading…'}</p>
        ) : (
          <div className="table-wrap">
            <table className="table" data-testid="users-table">
              <caption className="sr-only">Users</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Role</th>
                  <th scope="col">Created</th>
                  <th scope="col">Changed</th>
                  <th scope="col">
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {users.map((u) => (
                  <tr key={u.name} data-testid={`user-row-${u.name}`}>
                    <td className="cell-strong">
                      {u.name}
                      {u.name === me.user.name ? <span className="muted"> (you)</span> : null}
                    </td>
                    <td data-testid={`user-role-${u.name}`}>{u.role}</td>
                    <td className="nowrap">{formatDate(u.createdAt)}</td>
                    <td className="nowrap">{formatDate(u.updatedAt)}</td>
                    <td className="cell-actions">
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
                        <button
                          type="button"
                          className="button button-small button-danger-outline"
                          onClick={() => setDialog({ kind: 'delete-user', user: u })}
                          aria-label={`Delete user ${u.name}`}
                          data-testid={`delete-user-${u.name}`}
                        >
                          Delete
                        </button>
                      </div>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>

      <section className="card" aria-labelledby="roles-h">
        <h2 id="roles-h" className="card-title card-title-bar">
          Roles
        </h2>
        {roles === undefined ? (
          <p className="empty">{error ? '' : 'Loading…'}</p>
        ) : (
          <div className="table-wrap">
            <table className="table" data-testid="roles-table">
              <caption className="sr-only">Roles</caption>
              <thead>
                <tr>
                  <th scope="col">Role</th>
                  <th scope="col">Permissions</th>
                  <th scope="col">
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {roles.map((r) => (
                  <tr key={r.name} data-testid={`role-row-${r.name}`}>
                    <td className="cell-strong">
                      {r.name}
                      {r.builtin ? <span className="tag">built-in</span> : null}
                    </td>
                    <td>
                      <ul className="chips">
                        {r.permissions.map((p) => (
                          <li key={p} className="chip" title={PERMISSION_TEXT[p]}>
                            {p}
                          </li>
                        ))}
                      </ul>
                    </td>
                    <td className="cell-actions">
                      {r.builtin ? null : (
                        <button
                          type="button"
                          className="button button-small button-danger-outline"
                          onClick={() => setDialog({ kind: 'delete-role', role: r })}
                          aria-label={`Delete role ${r.name}`}
                        >
                          Delete
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>

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
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ShownError | undefined>(undefined);

  async function submit(e: FormEvent<HTMLFormElement>): Promise<void> {
    e.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(undefined);
    const r = user
      ? await updateUser(user.name, { ...(role !== user.role ? { role } : {}), ...(password !== '' ? { password } : {}) })
      : await createUser({ name: name.trim(), password, role });
    setBusy(false);
    if (r.ok) {
      onDone(r.value);
      return;
    }
    const shown = placeError(r.error, user ? ['role', 'password'] : ['name', 'password', 'role']);
    setError(shown);
    focusError(shown, id, id('form-error'));
  }
  const errorFor = (f: string): string | undefined => (error?.field === f ? error.message : undefined);

  return (
    <form className="form" onSubmit={(e) => void submit(e)} noValidate aria-busy={busy} data-testid="user-form">
      <FormError id={id('form-error')} error={error} />
      {user ? null : (
        <Field
          id={id('name')}
          label="User name"
          error={errorFor('name')}
          errorTestId="error-user-name"
          hint="2-32 characters: a-z, 0-9, . _ -, starting with a letter."
        >
          {(c) => (
            <input
              {...c}
              className="input"
              autoComplete="off"
              spellCheck={false}
              data-autofocus
              data-testid="user-name"
              value={name}
              onChange={(e) => setName(e.target.value)}
            />
          )}
        </Field>
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
      <Field
        id={id('password')}
        label={user ? 'New password' : 'Password'}
        error={errorFor('password')}
        errorTestId="error-user-password"
        hint={user ? 'Leave empty to keep the password. A new one logs the user out everywhere.' : 'At least 10 characters.'}
      >
        {(c) => (
          <input
            {...c}
            className="input"
            type="password"
            autoComplete="new-password"
            data-testid="user-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        )}
      </Field>
      <FormActions label={user ? 'Save' : 'Add user'} busy={busy} onCancel={onCancel} testId="user-submit" />
    </form>
  );
}

function RoleForm({ onCancel, onDone }: { onCancel: () => void; onDone: (r: RoleView) => void }) {
  const uid = useId();
  const id = (f: string): string => `${uid}-${f}`;
  const [name, setName] = useState('');
  const [perms, setPerms] = useState<Set<Permission>>(new Set(['ViewOnly']));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ShownError | undefined>(undefined);

  async function submit(e: FormEvent<HTMLFormElement>): Promise<void> {
    e.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(undefined);
    const r = await createRole({ name: name.trim(), permissions: PERMISSIONS.filter((p) => perms.has(p)) });
    setBusy(false);
    if (r.ok) {
      onDone(r.value);
      return;
    }
    const shown = placeError(r.error, ['name', 'permissions']);
    setError(shown);
    focusError(shown, (f) => (f === 'permissions' ? id('perm-ViewOnly') : id(f)), id('form-error'));
  }

  return (
    <form className="form" onSubmit={(e) => void submit(e)} noValidate aria-busy={busy} data-testid="role-form">
      <FormError id={id('form-error')} error={error} />
      <Field id={id('name')} label="Role name" error={error?.field === 'name' ? error.message : undefined}>
        {(c) => <input {...c} className="input" autoComplete="off" spellCheck={false} data-autofocus value={name} onChange={(e) => setName(e.target.value)} />}
      </Field>
      <fieldset className="fieldset" aria-describedby={error?.field === 'permissions' ? id('perm-error') : undefined}>
        <legend>Permissions</legend>
        <div className="check-grid">
          {PERMISSIONS.map((p) => (
            <label key={p} className="radio" htmlFor={id(`perm-${p}`)}>
              <input
                id={id(`perm-${p}`)}
                type="checkbox"
                checked={perms.has(p)}
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
        <FieldError id={id('perm-error')} error={error?.field === 'permissions' ? error.message : undefined} />
      </fieldset>
      <FormActions label="Add role" busy={busy} onCancel={onCancel} />
    </form>
  );
}
