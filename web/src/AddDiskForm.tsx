/**
 * The add-disk form (SPEC.md "Add a disk"). The server validates; its error message is shown next
 * to the field named by `details.field`, or above the form when there is no such (visible) field.
 */
import { type FormEvent, type ReactNode, useId, useRef, useState } from 'react';
import {
  type AddDiskRequest,
  type ApiErrorBody,
  type ApiResult,
  addDisk,
  type ClusterConfigView,
  type DiskView,
  type SubnetChoice,
  type SubnetView,
} from './api';

export type FieldName =
  | 'name'
  | 'sizeGb'
  | 'activePaths'
  | 'subnet'
  | 'path1'
  | 'path2'
  | 'acl.iqn'
  | 'chap.user'
  | 'chap.password';

const FIELD_NAMES: readonly FieldName[] = [
  'name',
  'sizeGb',
  'activePaths',
  'subnet',
  'path1',
  'path2',
  'acl.iqn',
  'chap.user',
  'chap.password',
];

/** Other spellings a server might use for the same fields. */
const FIELD_ALIASES: Record<string, FieldName> = {
  diskName: 'name',
  size: 'sizeGb',
  diskSize: 'sizeGb',
  paths: 'activePaths',
  iscsiSubnet: 'subnet',
  acl: 'acl.iqn',
  iqn: 'acl.iqn',
  'auth.user': 'chap.user',
  'auth.password': 'chap.password',
};

export const MAX_PATHS = 8;
const AUTO_ONLY_FROM = 3;

interface FormState {
  name: string;
  sizeGb: string;
  activePaths: number;
  subnet: SubnetChoice;
  ipMode: 'auto' | 'manual';
  path1: string;
  path2: string;
  aclMode: 'all' | 'iqn';
  iqn: string;
  authMode: 'none' | 'chap';
  chapUser: string;
  chapPassword: string;
}

const INITIAL: FormState = {
  name: '',
  sizeGb: '',
  activePaths: 2,
  subnet: 1,
  ipMode: 'auto',
  path1: '',
  path2: '',
  aclMode: 'all',
  iqn: '',
  authMode: 'none',
  chapUser: '',
  chapPassword: '',
};

interface ShownError {
  field: FieldName | undefined;
  message: string;
}

function visibleFields(f: FormState): Set<FieldName> {
  const v = new Set<FieldName>(['name', 'sizeGb', 'activePaths', 'subnet']);
  const manual = f.ipMode === 'manual' && f.activePaths < AUTO_ONLY_FROM;
  if (manual) v.add('path1');
  if (manual && f.activePaths === 2) v.add('path2');
  if (f.aclMode === 'iqn') v.add('acl.iqn');
  if (f.authMode === 'chap') {
    v.add('chap.user');
    v.add('chap.password');
  }
  return v;
}

/** Where to show a server error: its field when the form shows that field, else above the form. */
function placeError(err: ApiErrorBody, f: FormState): ShownError {
  const raw = typeof err.details.field === 'string' ? err.details.field : undefined;
  let field: FieldName | undefined;
  if (raw !== undefined) {
    field = (FIELD_NAMES as readonly string[]).includes(raw) ? (raw as FieldName) : FIELD_ALIASES[raw];
  }
  if (field !== undefined && !visibleFields(f).has(field)) field = undefined;
  return { field, message: err.message };
}

function toRequest(f: FormState): AddDiskRequest {
  const size = f.sizeGb.trim();
  const manual = f.ipMode === 'manual' && f.activePaths < AUTO_ONLY_FROM;
  const req: AddDiskRequest = {
    name: f.name.trim(),
    // Not a number: JSON sends null and the server answers with its own message.
    sizeGb: size === '' ? Number.NaN : Number(size),
    activePaths: f.activePaths,
    subnet: f.subnet,
    ipMode: manual ? 'manual' : 'auto',
    acl: f.aclMode === 'iqn' ? { mode: 'iqn', iqn: f.iqn.trim() } : { mode: 'all' },
    auth: f.authMode === 'chap' ? { mode: 'chap', user: f.chapUser.trim(), password: f.chapPassword } : { mode: 'none' },
  };
  if (manual) {
    req.path1 = f.path1.trim();
    if (f.activePaths === 2) req.path2 = f.path2.trim();
  }
  return req;
}

function cidr(s: SubnetView | undefined): string {
  return s ? `${s.network}/${s.prefix}` : '…';
}

interface AddDiskFormProps {
  config: ClusterConfigView | undefined;
  configError: ApiErrorBody | undefined;
  onCreated: (disk: DiskView) => void;
  onCancel: () => void;
  /** Sends the request; default POST /api/v1/disks (attaching an image sends it elsewhere). */
  submit?: (req: AddDiskRequest) => Promise<ApiResult<DiskView>>;
  /** The size is given (an image's): shown, not editable. */
  fixedSizeGb?: number;
  initialName?: string;
  submitLabel?: string;
}

export function AddDiskForm({
  config,
  configError,
  onCreated,
  onCancel,
  submit = addDisk,
  fixedSizeGb,
  initialName,
  submitLabel = 'Create disk',
}: AddDiskFormProps) {
  const uid = useId();
  const id = (field: string): string => `${uid}-${field.replaceAll('.', '_')}`;
  const [form, setForm] = useState<FormState>(() => ({
    ...INITIAL,
    name: initialName ?? '',
    sizeGb: fixedSizeGb === undefined ? '' : String(fixedSizeGb),
  }));
  const [error, setError] = useState<ShownError | undefined>(undefined);
  const [submitting, setSubmitting] = useState(false);
  const formErrorRef = useRef<HTMLDivElement>(null);

  const manualAllowed = form.activePaths < AUTO_ONLY_FROM;
  const manual = form.ipMode === 'manual' && manualAllowed;
  const s1 = config?.subnet1;
  const s2 = config?.subnet2;

  function set<K extends keyof FormState>(key: K, value: FormState[K], field?: FieldName): void {
    setForm((prev) => {
      const next = { ...prev, [key]: value };
      if (next.activePaths >= AUTO_ONLY_FROM) next.ipMode = 'auto';
      return next;
    });
    // Editing a field clears the error shown on it.
    if (field !== undefined && error?.field === field) setError(undefined);
  }

  async function onSubmit(e: FormEvent<HTMLFormElement>): Promise<void> {
    e.preventDefault();
    if (submitting) return;
    setSubmitting(true);
    setError(undefined);
    const r = await submit(toRequest(form));
    setSubmitting(false);
    if (r.ok) {
      onCreated(r.value);
      return;
    }
    const shown = placeError(r.error, form);
    setError(shown);
    // Move focus to the field at fault (or the message above the form) once it renders.
    requestAnimationFrame(() => {
      const target =
        shown.field !== undefined
          ? document.getElementById(shown.field === 'subnet' ? id(`subnet-${form.subnet}`) : id(shown.field))
          : formErrorRef.current;
      target?.focus();
    });
  }

  const errorFor = (field: FieldName): string | undefined => (error?.field === field ? error.message : undefined);
  const errId = (field: FieldName): string => `${id(field)}-error`;
  const hintId = (field: string): string => `${id(field)}-hint`;
  const describedBy = (field: FieldName, hint: boolean): string | undefined => {
    const ids = [hint ? hintId(field) : '', errorFor(field) ? errId(field) : ''].filter(Boolean);
    return ids.length > 0 ? ids.join(' ') : undefined;
  };

  const fieldError = (field: FieldName): ReactNode => {
    const msg = errorFor(field);
    return msg ? (
      <p id={errId(field)} className="field-error" role="alert" data-testid={`error-${field}`}>
        {msg}
      </p>
    ) : null;
  };

  const ipHint =
    form.subnet === 3 ? `In ${cidr(s1)} or ${cidr(s2)}` : `In ${cidr(form.subnet === 1 ? s1 : s2)}`;

  return (
    <form
      className="form"
      onSubmit={(e) => void onSubmit(e)}
      noValidate
      aria-busy={submitting}
      aria-describedby={error && error.field === undefined ? id('form-error') : undefined}
      data-testid="add-disk-form"
    >
      {error && error.field === undefined ? (
        <div
          ref={formErrorRef}
          className="alert alert-error"
          role="alert"
          tabIndex={-1}
          data-testid="form-error"
          id={id('form-error')}
        >
          {error.message}
        </div>
      ) : null}
      {configError ? (
        <p className="alert alert-warning" data-testid="config-error">
          Subnet details are unavailable: {configError.message}
        </p>
      ) : null}

      <div className="form-grid">
        <div className="field">
          <label htmlFor={id('name')}>Disk name</label>
          <input
            id={id('name')}
            name="name"
            className="input"
            type="text"
            autoComplete="off"
            spellCheck={false}
            data-autofocus
            data-testid="field-name"
            required
            aria-invalid={errorFor('name') ? true : undefined}
            aria-describedby={describedBy('name', false)}
            value={form.name}
            onChange={(e) => set('name', e.target.value, 'name')}
          />
          {fieldError('name')}
        </div>

        <div className="field">
          <label htmlFor={id('sizeGb')}>Size (GB)</label>
          <input
            id={id('sizeGb')}
            name="sizeGb"
            className="input"
            type="number"
            inputMode="numeric"
            min={1}
            step={1}
            data-testid="field-sizeGb"
            readOnly={fixedSizeGb !== undefined}
            required
            aria-invalid={errorFor('sizeGb') ? true : undefined}
            aria-describedby={describedBy('sizeGb', fixedSizeGb !== undefined)}
            value={form.sizeGb}
            onChange={(e) => set('sizeGb', e.target.value, 'sizeGb')}
          />
          {fixedSizeGb !== undefined ? (
            <p id={hintId('sizeGb')} className="field-hint">
              The image's size.
            </p>
          ) : null}
          {fieldError('sizeGb')}
        </div>

        <div className="field">
          <label htmlFor={id('activePaths')}>Active paths</label>
          <select
            id={id('activePaths')}
            name="activePaths"
            className="select"
            data-testid="field-activePaths"
            aria-invalid={errorFor('activePaths') ? true : undefined}
            aria-describedby={describedBy('activePaths', true)}
            value={form.activePaths}
            onChange={(e) => set('activePaths', Number(e.target.value), 'activePaths')}
          >
            {Array.from({ length: MAX_PATHS }, (_, i) => i + 1).map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
          <p id={hintId('activePaths')} className="field-hint">
            One IP address per path.
          </p>
          {fieldError('activePaths')}
        </div>
      </div>

      <fieldset className="fieldset" aria-describedby={describedBy('subnet', false)}>
        <legend>iSCSI subnet</legend>
        <div className="choice-row">
          {([1, 2, 3] as const).map((n) => {
            const sub = n === 1 ? s1 : n === 2 ? s2 : undefined;
            return (
              <label key={n} className="choice-card" htmlFor={id(`subnet-${n}`)}>
                <input
                  id={id(`subnet-${n}`)}
                  type="radio"
                  name={`${uid}-subnet`}
                  value={n}
                  data-testid={`field-subnet-${n}`}
                  checked={form.subnet === n}
                  aria-invalid={errorFor('subnet') ? true : undefined}
                  aria-describedby={describedBy('subnet', false)}
                  onChange={() => set('subnet', n, 'subnet')}
                />
                <span className="choice-text">
                  <span className="choice-title">{n === 3 ? 'Both subnets' : `Subnet ${n}`}</span>
                  <span className="choice-detail mono" data-testid={`subnet-info-${n}`}>
                    {n === 3
                      ? `${cidr(s1)} + ${cidr(s2)}`
                      : sub
                        ? `${cidr(sub)} · ${sub.eth}`
                        : configError
                          ? 'unknown'
                          : 'loading…'}
                  </span>
                </span>
              </label>
            );
          })}
        </div>
        {fieldError('subnet')}
      </fieldset>

      <fieldset className="fieldset">
        <legend>IP addresses</legend>
        <div className="radio-row">
          <label className="radio" htmlFor={id('ipMode-auto')}>
            <input
              id={id('ipMode-auto')}
              type="radio"
              name={`${uid}-ipMode`}
              value="auto"
              data-testid="field-ipMode-auto"
              checked={!manual}
              onChange={() => set('ipMode', 'auto')}
            />
            Automatic
          </label>
          <label className={manualAllowed ? 'radio' : 'radio radio-disabled'} htmlFor={id('ipMode-manual')}>
            <input
              id={id('ipMode-manual')}
              type="radio"
              name={`${uid}-ipMode`}
              value="manual"
              data-testid="field-ipMode-manual"
              checked={manual}
              disabled={!manualAllowed}
              aria-describedby={manualAllowed ? undefined : hintId('ipMode')}
              onChange={() => set('ipMode', 'manual')}
            />
            Manual
          </label>
        </div>
        {manualAllowed ? null : (
          <p id={hintId('ipMode')} className="field-hint" data-testid="ipmode-hint">
            With {AUTO_ONLY_FROM} or more active paths, IP addresses are always assigned automatically.
          </p>
        )}
        {manual ? (
          <div className="form-grid">
            <div className="field">
              <label htmlFor={id('path1')}>Path 1 IP</label>
              <input
                id={id('path1')}
                name="path1"
                className="input mono"
                type="text"
                inputMode="decimal"
                autoComplete="off"
                spellCheck={false}
                placeholder={s1 && form.subnet !== 2 ? s1.autoIpFrom : s2?.autoIpFrom}
                data-testid="field-path1"
                required
                aria-invalid={errorFor('path1') ? true : undefined}
                aria-describedby={describedBy('path1', true)}
                value={form.path1}
                onChange={(e) => set('path1', e.target.value, 'path1')}
              />
              <p id={hintId('path1')} className="field-hint">
                {ipHint}
              </p>
              {fieldError('path1')}
            </div>
            {form.activePaths === 2 ? (
              <div className="field">
                <label htmlFor={id('path2')}>Path 2 IP</label>
                <input
                  id={id('path2')}
                  name="path2"
                  className="input mono"
                  type="text"
                  inputMode="decimal"
                  autoComplete="off"
                  spellCheck={false}
                  placeholder={s2 && form.subnet !== 1 ? s2.autoIpFrom : s1?.autoIpFrom}
                  data-testid="field-path2"
                  required
                  aria-invalid={errorFor('path2') ? true : undefined}
                  aria-describedby={describedBy('path2', true)}
                  value={form.path2}
                  onChange={(e) => set('path2', e.target.value, 'path2')}
                />
                <p id={hintId('path2')} className="field-hint">
                  {ipHint}
                </p>
                {fieldError('path2')}
              </div>
            ) : null}
          </div>
        ) : null}
      </fieldset>

      <fieldset className="fieldset">
        <legend>Access control (ACL)</legend>
        <div className="radio-row">
          <label className="radio" htmlFor={id('aclmode-all')}>
            <input
              id={id('aclmode-all')}
              type="radio"
              name={`${uid}-acl`}
              value="all"
              data-testid="field-acl-all"
              checked={form.aclMode === 'all'}
              onChange={() => set('aclMode', 'all', 'acl.iqn')}
            />
            All initiators
          </label>
          <label className="radio" htmlFor={id('aclmode-iqn')}>
            <input
              id={id('aclmode-iqn')}
              type="radio"
              name={`${uid}-acl`}
              value="iqn"
              data-testid="field-acl-iqn"
              checked={form.aclMode === 'iqn'}
              onChange={() => set('aclMode', 'iqn')}
            />
            One initiator
          </label>
        </div>
        {form.aclMode === 'iqn' ? (
          <div className="field field-wide">
            <label htmlFor={id('acl.iqn')}>Initiator IQN</label>
            <input
              id={id('acl.iqn')}
              name="acl.iqn"
              className="input mono"
              type="text"
              autoComplete="off"
              spellCheck={false}
              placeholder="iqn.1993-08.org.debian:01:host1"
              data-testid="field-acl.iqn"
              required
              aria-invalid={errorFor('acl.iqn') ? true : undefined}
              aria-describedby={describedBy('acl.iqn', false)}
              value={form.iqn}
              onChange={(e) => set('iqn', e.target.value, 'acl.iqn')}
            />
            {fieldError('acl.iqn')}
          </div>
        ) : null}
      </fieldset>

      <fieldset className="fieldset">
        <legend>Authentication</legend>
        <div className="radio-row">
          <label className="radio" htmlFor={id('authmode-none')}>
            <input
              id={id('authmode-none')}
              type="radio"
              name={`${uid}-auth`}
              value="none"
              data-testid="field-auth-none"
              checked={form.authMode === 'none'}
              onChange={() => set('authMode', 'none')}
            />
            None
          </label>
          <label className="radio" htmlFor={id('authmode-chap')}>
            <input
              id={id('authmode-chap')}
              type="radio"
              name={`${uid}-auth`}
              value="chap"
              data-testid="field-auth-chap"
              checked={form.authMode === 'chap'}
              onChange={() => set('authMode', 'chap')}
            />
            CHAP
          </label>
        </div>
        {form.authMode === 'chap' ? (
          <div className="form-grid">
            <div className="field">
              <label htmlFor={id('chap.user')}>CHAP user name</label>
              <input
                id={id('chap.user')}
                name="chap.user"
                className="input"
                type="text"
                autoComplete="off"
                spellCheck={false}
                data-testid="field-chap.user"
                required
                aria-invalid={errorFor('chap.user') ? true : undefined}
                aria-describedby={describedBy('chap.user', false)}
                value={form.chapUser}
                onChange={(e) => set('chapUser', e.target.value, 'chap.user')}
              />
              {fieldError('chap.user')}
            </div>
            <div className="field">
              <label htmlFor={id('chap.password')}>CHAP password</label>
              <input
                id={id('chap.password')}
                name="chap.password"
                className="input"
                type="password"
                autoComplete="new-password"
                data-testid="field-chap.password"
                required
                aria-invalid={errorFor('chap.password') ? true : undefined}
                aria-describedby={describedBy('chap.password', false)}
                value={form.chapPassword}
                onChange={(e) => set('chapPassword', e.target.value, 'chap.password')}
              />
              {fieldError('chap.password')}
            </div>
          </div>
        ) : null}
      </fieldset>

      <div className="form-actions">
        <button type="button" className="button" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" className="button button-primary" disabled={submitting} data-testid="create-disk">
          {submitting ? <span className="spinner" aria-hidden="true" /> : null}
          {submitLabel}
        </button>
      </div>
    </form>
  );
}
