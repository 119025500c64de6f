/**
 * Edit a disk (PATCH /api/v1/disks/:id): rename, grow (never shrink), ACL, CHAP, placement, QoS limits. Only the fields the
 * user changed are sent. CHAP with the same user and an empty password keeps the stored password.
 * The server's message appears beside the field it names.
 */
import { type ChangeEvent, type FormEvent, useEffect, useId, useState } from 'react';
import { QOS_LIMITS, parseQos } from '../../src/domain/qos';
import { PLACEMENT_CHOICES } from './AddDiskForm';
import { type DiskView, type EditDiskRequest, type Placement, editDisk, getConfig } from './api';
import { Field, FormActions, FormError, focusError, placeError, type ShownError } from './Field';
import { QosFields, qosFormOf, qosRequest } from './QosFields';

interface EditDiskFormProps {
  disk: DiskView;
  onSaved: (disk: DiskView) => void;
  onCancel: () => void;
}

const FIELDS = [
  'name',
  'sizeGb',
  'acl.iqn',
  'chap.user',
  'chap.password',
  'chap.targetUser',
  'chap.targetPassword',
  'qos',
  ...QOS_LIMITS.map((k) => `qos.${k}`),
] as const;
const ALIASES: Record<string, string> = { acl: 'acl.iqn', iqn: 'acl.iqn', 'auth.user': 'chap.user', 'auth.password': 'chap.password' };

export function EditDiskForm({ disk, onSaved, onCancel }: EditDiskFormProps) {
  const uid = useId();
  const id = (f: string): string => `${uid}-${f.replaceAll('.', '_')}`;
  const [name, setName] = useState(disk.name);
  const [sizeGb, setSizeGb] = useState(String(disk.sizeGb));
  const [aclMode, setAclMode] = useState<'all' | 'iqn'>(disk.acl ? 'iqn' : 'all');
  const [iqn, setIqn] = useState(disk.acl);
  const [authMode, setAuthMode] = useState<'none' | 'chap'>(disk.chapUser ? 'chap' : 'none');
  const [chapUser, setChapUser] = useState(disk.chapUser);
  const [chapPassword, setChapPassword] = useState('');
  const [mutual, setMutual] = useState(disk.targetChapUser !== '');
  const [targetUser, setTargetUser] = useState(disk.targetChapUser);
  const [targetPassword, setTargetPassword] = useState('');
  const [placement, setPlacement] = useState<Placement>(disk.placement);
  const [qos, setQos] = useState(() => qosFormOf(disk.qos));
  const [qosSupported, setQosSupported] = useState<boolean | undefined>(undefined);
  useEffect(() => {
    let gone = false;
    void getConfig().then((r) => {
      if (!gone && r.ok) setQosSupported(r.value.qosSupported);
    });
    return () => {
      gone = true;
    };
  }, []);
  const [error, setError] = useState<ShownError | undefined>(undefined);
  const [busy, setBusy] = useState(false);

  const keepsPassword = authMode === 'chap' && disk.chapUser !== '' && chapUser.trim() === disk.chapUser;
  const keepsTargetPassword = mutual && disk.targetChapUser !== '' && targetUser.trim() === disk.targetChapUser;
  // An edit's auth replaces all of it: the target's user goes along (its password kept when left empty).
  const mutualChanged = mutual !== (disk.targetChapUser !== '') || (mutual && (targetUser.trim() !== disk.targetChapUser || targetPassword !== ''));

  function request(): EditDiskRequest {
    const req: EditDiskRequest = {};
    if (name.trim() !== disk.name) req.name = name.trim();
    const size = sizeGb.trim() === '' ? Number.NaN : Number(sizeGb);
    if (size !== disk.sizeGb) req.sizeGb = size;
    const acl = aclMode === 'iqn' ? iqn.trim() : '';
    if (acl !== disk.acl || (aclMode === 'iqn' && acl === '')) req.acl = aclMode === 'iqn' ? { mode: 'iqn', iqn: acl } : { mode: 'all' };
    if (authMode === 'none') {
      if (disk.chapUser !== '') req.auth = { mode: 'none' };
    } else if (chapUser.trim() !== disk.chapUser || chapPassword !== '' || disk.chapUser === '' || mutualChanged) {
      req.auth = {
        mode: 'chap',
        user: chapUser.trim(),
        ...(chapPassword === '' && keepsPassword ? {} : { password: chapPassword }),
        ...(mutual ? { targetUser: targetUser.trim(), ...(targetPassword === '' && keepsTargetPassword ? {} : { targetPassword }) } : {}),
      };
    }
    if (placement !== disk.placement) req.placement = placement;
    const q = qosRequest(qos, disk.qos);
    if (q) req.qos = q as EditDiskRequest['qos'];
    return req;
  }

  async function submit(e: FormEvent<HTMLFormElement>): Promise<void> {
    e.preventDefault();
    if (busy) return;
    const req = request();
    if (Object.keys(req).length === 0) {
      onCancel();
      return;
    }
    // The server's own rules for the limits, before sending (a typed text that is not a number).
    const bad = parseQos(req.qos, disk.qos);
    if ('ok' in bad) {
      const shown = { field: bad.field, message: bad.message };
      setError(shown);
      focusError(shown, id, id('form-error'));
      return;
    }
    setBusy(true);
    setError(undefined);
    const r = await editDisk(disk.id, req);
    setBusy(false);
    if (r.ok) {
      onSaved(r.value);
      return;
    }
    const visible = FIELDS.filter((f) => (f === 'acl.iqn' ? aclMode === 'iqn' : f.startsWith('chap.') ? authMode === 'chap' : true));
    const shown = placeError(r.error, visible, ALIASES);
    setError(shown);
    focusError(shown, id, id('form-error'));
  }

  const errorFor = (f: string): string | undefined => (error?.field === f ? error.message : undefined);
  const clear = (f: string): void => {
    if (error?.field === f) setError(undefined);
  };
  /** onChange of a field's input: keeps the value, clears the error shown on the field. */
  const edit =
    (setValue: (value: string) => void, f: string) =>
    (e: ChangeEvent<HTMLInputElement>): void => {
      setValue(e.target.value);
      clear(f);
    };

  return (
    <form className="form" onSubmit={(e) => void submit(e)} noValidate aria-busy={busy} data-testid="edit-disk-form">
      <FormError id={id('form-error')} error={error} />
      <div className="form-grid">
        <Field id={id('name')} label="Disk name" error={errorFor('name')} errorTestId="error-name">
          {(c) => (
            <input
              {...c}
              className="input"
              autoComplete="off"
              spellCheck={false}
              data-autofocus
              data-testid="edit-name"
              value={name}
              onChange={edit(setName, 'name')}
            />
          )}
        </Field>
        <Field
          id={id('sizeGb')}
          label="Size (GiB)"
          error={errorFor('sizeGb')}
          errorTestId="error-sizeGb"
          hint={`Disks can only grow (now ${disk.sizeGb} GiB).`}
        >
          {(c) => (
            <input
              {...c}
              className="input"
              type="number"
              inputMode="numeric"
              min={disk.sizeGb}
              step={1}
              data-testid="edit-sizeGb"
              value={sizeGb}
              onChange={edit(setSizeGb, 'sizeGb')}
            />
          )}
        </Field>
      </div>

      <fieldset className="fieldset">
        <legend>Access control (ACL)</legend>
        <div className="radio-row">
          <label className="radio">
            <input type="radio" name={`${uid}-acl`} checked={aclMode === 'all'} onChange={() => setAclMode('all')} data-testid="edit-acl-all" />
            All initiators
          </label>
          <label className="radio">
            <input type="radio" name={`${uid}-acl`} checked={aclMode === 'iqn'} onChange={() => setAclMode('iqn')} data-testid="edit-acl-iqn" />
            One initiator
          </label>
        </div>
        {aclMode === 'iqn' ? (
          <Field id={id('acl.iqn')} label="Initiator IQN" error={errorFor('acl.iqn')} errorTestId="error-acl.iqn" wide>
            {(c) => (
              <input
                {...c}
                className="input mono"
                autoComplete="off"
                spellCheck={false}
                placeholder="iqn.1993-08.org.debian:01:host1"
                data-testid="edit-iqn"
                value={iqn}
                onChange={edit(setIqn, 'acl.iqn')}
              />
            )}
          </Field>
        ) : null}
      </fieldset>

      <fieldset className="fieldset">
        <legend>Authentication</legend>
        <div className="radio-row">
          <label className="radio">
            <input type="radio" name={`${uid}-auth`} checked={authMode === 'none'} onChange={() => setAuthMode('none')} data-testid="edit-auth-none" />
            None
          </label>
          <label className="radio">
            <input type="radio" name={`${uid}-auth`} checked={authMode === 'chap'} onChange={() => setAuthMode('chap')} data-testid="edit-auth-chap" />
            CHAP
          </label>
        </div>
        {authMode === 'chap' ? (
          <div className="form-grid">
            <Field id={id('chap.user')} label="CHAP user name" error={errorFor('chap.user')} errorTestId="error-chap.user">
              {(c) => (
                <input
                  {...c}
                  className="input"
                  autoComplete="off"
                  spellCheck={false}
                  data-testid="edit-chap-user"
                  value={chapUser}
                  onChange={edit(setChapUser, 'chap.user')}
                />
              )}
            </Field>
            <Field
              id={id('chap.password')}
              label="CHAP password"
              error={errorFor('chap.password')}
              errorTestId="error-chap.password"
              hint={keepsPassword ? 'Leave empty to keep the current password.' : undefined}
            >
              {(c) => (
                <input
                  {...c}
                  className="input"
                  type="password"
                  autoComplete="new-password"
                  data-testid="edit-chap-password"
                  value={chapPassword}
                  onChange={edit(setChapPassword, 'chap.password')}
                />
              )}
            </Field>
          </div>
        ) : null}
        {authMode === 'chap' ? (
          <label className="radio">
            <input type="checkbox" checked={mutual} onChange={(e) => setMutual(e.target.checked)} data-testid="edit-mutual" />
            Mutual CHAP: hosts check the target too
          </label>
        ) : null}
        {authMode === 'chap' && mutual ? (
          <div className="form-grid">
            <Field id={id('chap.targetUser')} label="Target user name" error={errorFor('chap.targetUser')} errorTestId="error-chap.targetUser">
              {(c) => (
                <input
                  {...c}
                  className="input"
                  autoComplete="off"
                  spellCheck={false}
                  data-testid="edit-chap-target-user"
                  value={targetUser}
                  onChange={edit(setTargetUser, 'chap.targetUser')}
                />
              )}
            </Field>
            <Field
              id={id('chap.targetPassword')}
              label="Target password"
              error={errorFor('chap.targetPassword')}
              errorTestId="error-chap.targetPassword"
              hint={keepsTargetPassword ? 'Leave empty to keep the current target password.' : 'Not the CHAP password.'}
            >
              {(c) => (
                <input
                  {...c}
                  className="input"
                  type="password"
                  autoComplete="new-password"
                  data-testid="edit-chap-target-password"
                  value={targetPassword}
                  onChange={edit(setTargetPassword, 'chap.targetPassword')}
                />
              )}
            </Field>
          </div>
        ) : null}
      </fieldset>

      <fieldset className="fieldset">
        <legend>Placement</legend>
        <div className="radio-row">
          {PLACEMENT_CHOICES.map((c) => (
            <label key={c.value} className="radio" title={c.detail}>
              <input
                type="radio"
                name={`${uid}-placement`}
                checked={placement === c.value}
                onChange={() => setPlacement(c.value)}
                data-testid={`edit-placement-${c.value}`}
              />
              {c.title}
            </label>
          ))}
        </div>
        {placement !== disk.placement ? (
          <p className="field-hint" data-testid="placement-change-note">
            {placement === 'shared'
              ? 'The paths move onto one node after saving (a path on another node is briefly away while it moves).'
              : 'The paths spread over the nodes at the next rebalance or failover.'}
          </p>
        ) : null}
        {placement === 'spread' ? (
          <p className="field-warning" role="note" data-testid="placement-spread-warning">
            SCSI reservations hold per node, not per disk: do not share a spread disk between hosts of a cluster.
          </p>
        ) : null}
      </fieldset>

      <QosFields
        value={qos}
        onChange={(k, text) => {
          setQos((prev) => ({ ...prev, [k]: text }));
          clear(`qos.${k}`);
        }}
        errorFor={errorFor}
        idOf={id}
        supported={qosSupported}
        testIdPrefix="edit"
      />

      <FormActions label="Save changes" busy={busy} onCancel={onCancel} testId="save-disk" />
    </form>
  );
}
