/**
 * The add-disk form (docs/PRODUCT.md, "Adding a disk"). Before sending, the server's own domain rules
 * (src/domain/add-disk.ts addDiskProblems, the same functions the server runs) check the form and every
 * fault shows beside its field at once; the rules are shown as hints up front. What only the server knows
 * (a name or IP taken) comes back as its error, beside the field named by `details.field`, or above the
 * form when there is no such (visible) field. With automatic IPs the IPs the server would pick now are
 * previewed (GET /api/v1/disks/ip-preview).
 */
import { type FormEvent, type ReactNode, useEffect, useId, useMemo, useState } from 'react';
import { addDiskProblems } from '../../src/domain/add-disk';
import { checkConfig } from '../../src/domain/config';
import { RULES } from '../../src/domain/validate';
import {
  type AddDiskRequest,
  type ApiErrorBody,
  type ApiResult,
  addDisk,
  type ClusterConfigView,
  type DiskView,
  type Placement,
  type SubnetChoice,
  type SubnetView,
  previewIps,
} from './api';
import { Field, FieldError, FormActions, FormError, focusError } from './Field';
import { EMPTY_QOS, type QosForm, QosFields, qosRequest } from './QosFields';
import { QOS_LIMITS } from '../../src/domain/qos';

export type FieldName =
  | 'name'
  | 'sizeGb'
  | 'activePaths'
  | 'subnet'
  | 'placement'
  | 'path1'
  | 'path2'
  | 'acl.iqn'
  | 'chap.user'
  | 'chap.password'
  | 'chap.targetUser'
  | 'chap.targetPassword'
  | 'qos'
  | `qos.${(typeof QOS_LIMITS)[number]}`;

const QOS_FIELDS: readonly FieldName[] = ['qos', ...QOS_LIMITS.map((k) => `qos.${k}` as const)];
const FIELD_NAMES: readonly FieldName[] = [
  'name',
  'sizeGb',
  'activePaths',
  'subnet',
  'placement',
  'path1',
  'path2',
  'acl.iqn',
  'chap.user',
  'chap.password',
  'chap.targetUser',
  'chap.targetPassword',
  ...QOS_FIELDS,
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

/** The two placements, as the form offers them (the API documents the same). */
export const PLACEMENT_CHOICES: readonly { value: Placement; title: string; detail: string }[] = [
  {
    value: 'shared',
    title: 'Shared (one node)',
    detail: 'Every path on one node: reservations hold across all paths. For disks that several hosts share.',
  },
  {
    value: 'spread',
    title: 'Spread (several nodes)',
    detail: 'Paths over several nodes for one host using multipath; reservations hold per node only.',
  },
];
const AUTO_ONLY_FROM = 3;

interface FormState {
  name: string;
  sizeGb: string;
  activePaths: number;
  subnet: SubnetChoice;
  placement: Placement;
  ipMode: 'auto' | 'manual';
  path1: string;
  path2: string;
  aclMode: 'all' | 'iqn';
  iqn: string;
  authMode: 'none' | 'chap';
  chapUser: string;
  chapPassword: string;
  /** Mutual CHAP: the target's own credentials, which the host checks. */
  mutual: boolean;
  targetUser: string;
  targetPassword: string;
  qos: QosForm;
}

const INITIAL: FormState = {
  name: '',
  sizeGb: '',
  activePaths: 2,
  // Two paths or more: both subnets (network redundancy) unless the admin picks one.
  subnet: 3,
  placement: 'shared',
  ipMode: 'auto',
  path1: '',
  path2: '',
  aclMode: 'all',
  iqn: '',
  authMode: 'none',
  chapUser: '',
  chapPassword: '',
  mutual: false,
  targetUser: '',
  targetPassword: '',
  qos: EMPTY_QOS,
};

interface ShownError {
  field: FieldName | undefined;
  message: string;
}

function visibleFields(f: FormState): Set<FieldName> {
  const v = new Set<FieldName>(['name', 'sizeGb', 'activePaths', 'subnet', 'placement', ...QOS_FIELDS]);
  const manual = f.ipMode === 'manual' && f.activePaths < AUTO_ONLY_FROM;
  if (manual) v.add('path1');
  if (manual && f.activePaths === 2) v.add('path2');
  if (f.aclMode === 'iqn') v.add('acl.iqn');
  if (f.authMode === 'chap') {
    v.add('chap.user');
    v.add('chap.password');
    if (f.mutual) {
      v.add('chap.targetUser');
      v.add('chap.targetPassword');
    }
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
    placement: f.placement,
    ipMode: manual ? 'manual' : 'auto',
    acl: f.aclMode === 'iqn' ? { mode: 'iqn', iqn: f.iqn.trim() } : { mode: 'all' },
    auth:
      f.authMode === 'chap'
        ? {
            mode: 'chap',
            user: f.chapUser.trim(),
            password: f.chapPassword,
            ...(f.mutual ? { targetUser: f.targetUser.trim(), targetPassword: f.targetPassword } : {}),
          }
        : { mode: 'none' },
  };
  const qos = qosRequest(f.qos);
  // Typed text that is not a number goes as typed: the domain's rules name the field (invalid_qos).
  if (qos) req.qos = qos as AddDiskRequest['qos'];
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
  /** Offer QoS limits (not for attaching an image: its limits are set by an edit afterwards). */
  withQos?: boolean;
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
  withQos = true,
}: AddDiskFormProps) {
  const uid = useId();
  const id = (field: string): string => `${uid}-${field.replaceAll('.', '_')}`;
  const [form, setForm] = useState<FormState>(() => ({
    ...INITIAL,
    name: initialName ?? '',
    sizeGb: fixedSizeGb === undefined ? '' : String(fixedSizeGb),
  }));
  const [errors, setErrors] = useState<ShownError[]>([]);
  const error = errors.find((e) => e.field === undefined);
  const setError = (e: ShownError | undefined) => setErrors(e ? [e] : []);
  const [submitting, setSubmitting] = useState(false);
  const [subnetChosen, setSubnetChosen] = useState(false);
  // The server's subnets, resolved by the server's own config rules (for the checks before sending).
  const resolved = useMemo(() => {
    if (!config) return undefined;
    const c = checkConfig(config);
    return c.ok ? { s1: c.subnet1, s2: c.subnet2 } : undefined;
  }, [config]);

  const manualAllowed = form.activePaths < AUTO_ONLY_FROM;
  const manual = form.ipMode === 'manual' && manualAllowed;
  const s1 = config?.subnet1;
  const s2 = config?.subnet2;

  function set<K extends keyof FormState>(key: K, value: FormState[K], field?: FieldName): void {
    if (key === 'subnet') setSubnetChosen(true);
    setForm((prev) => {
      const next = { ...prev, [key]: value };
      if (next.activePaths >= AUTO_ONLY_FROM) next.ipMode = 'auto';
      if (key === 'activePaths' && !subnetChosen) next.subnet = next.activePaths >= 2 ? 3 : 1;
      return next;
    });
    // Editing a field clears the error shown on it.
    if (field !== undefined) setErrors((prev) => prev.filter((x) => x.field !== field));
  }

  // The IPs automatic allocation would pick now (a preview: an add meanwhile may take them).
  const [preview, setPreview] = useState<{ key: string; text: string } | undefined>(undefined);
  const previewKey = `${form.activePaths}/${form.subnet}`;
  const auto = !(form.ipMode === 'manual' && form.activePaths < AUTO_ONLY_FROM);
  useEffect(() => {
    if (!auto) return;
    let gone = false;
    const t = setTimeout(() => {
      void previewIps(form.activePaths, form.subnet).then((r) => {
        if (!gone) setPreview({ key: previewKey, text: r.ok ? r.value.map((x) => x.ip).join(', ') : r.error.message });
      });
    }, 150);
    return () => {
      gone = true;
      clearTimeout(t);
    };
  }, [auto, previewKey, form.activePaths, form.subnet]);

  async function onSubmit(e: FormEvent<HTMLFormElement>): Promise<void> {
    e.preventDefault();
    if (submitting) return;
    // The server's own rules, every fault at once, before any request.
    const problems = addDiskProblems(toRequest(form), resolved).map((p) =>
      placeError({ status: 400, code: p.code, message: p.message, details: { ...(p.details ?? {}), ...(p.field ? { field: p.field } : {}) } }, form),
    );
    if (problems.length > 0) {
      const fieldFaults = problems.filter((p) => p.field !== undefined);
      const shown = fieldFaults.length > 0 ? fieldFaults : problems.slice(0, 1);
      setErrors(shown);
      focusError(shown[0] as ShownError, (field) => (field === 'subnet' ? id(`subnet-${form.subnet}`) : id(field)), id('form-error'));
      return;
    }
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
    focusError(shown, (field) => (field === 'subnet' ? id(`subnet-${form.subnet}`) : id(field)), id('form-error'));
  }

  const errorFor = (field: FieldName): string | undefined => errors.find((e) => e.field === field)?.message;
  const errId = (field: FieldName): string => `${id(field)}-error`;
  const hintId = (field: string): string => `${id(field)}-hint`;
  // The subnet radios are described by their error only (Field ties the other controls to theirs).
  const subnetDescribedBy = errorFor('subnet') ? errId('subnet') : undefined;

  // Per path: with both subnets and 2 paths, path 1 in subnet 1 and path 2 in subnet 2 (domain/validate.ts pathSubnets).
  const ipHint = (field: 'path1' | 'path2'): string => {
    if (form.subnet === 3 && form.activePaths === 2) return field === 'path1' ? `In subnet 1: ${cidr(s1)}` : `In subnet 2: ${cidr(s2)}`;
    if (form.subnet === 3) return `In ${cidr(s1)} or ${cidr(s2)}`;
    return `In subnet ${form.subnet}: ${cidr(form.subnet === 1 ? s1 : s2)}`;
  };

  /** The IP of path 1 or 2 (manual IPs). */
  const ipField = (field: 'path1' | 'path2', label: string, placeholder: string | undefined): ReactNode => (
    <Field
      id={id(field)}
      label={label}
      error={errorFor(field)}
      errorTestId={`error-${field}`}
      hint={<span data-testid={`hint-${field}`}>{ipHint(field)}</span>}
    >
      {(c) => (
        <input
          {...c}
          name={field}
          className="input mono"
          type="text"
          inputMode="decimal"
          autoComplete="off"
          spellCheck={false}
          placeholder={placeholder}
          data-testid={`field-${field}`}
          required
          value={form[field]}
          onChange={(e) => set(field, e.target.value, field)}
        />
      )}
    </Field>
  );

  return (
    <form
      className="form"
      onSubmit={(e) => void onSubmit(e)}
      noValidate
      aria-busy={submitting}
      aria-describedby={error && error.field === undefined ? id('form-error') : undefined}
      data-testid="add-disk-form"
    >
      <FormError id={id('form-error')} error={error} />
      {configError ? (
        <p className="alert alert-warning" data-testid="config-error">
          Subnet details are unavailable: {configError.message}
        </p>
      ) : null}

      <div className="form-grid">
        <Field id={id('name')} label="Disk name" error={errorFor('name')} errorTestId="error-name" hint={RULES.name}>
          {(c) => (
            <input
              {...c}
              name="name"
              className="input"
              type="text"
              autoComplete="off"
              spellCheck={false}
              data-autofocus
              data-testid="field-name"
              required
              value={form.name}
              onChange={(e) => set('name', e.target.value, 'name')}
            />
          )}
        </Field>

        <Field
          id={id('sizeGb')}
          label="Size (GiB)"
          error={errorFor('sizeGb')}
          errorTestId="error-sizeGb"
          hint={fixedSizeGb !== undefined ? "The image's size." : undefined}
        >
          {(c) => (
            <input
              {...c}
              name="sizeGb"
              className="input"
              type="number"
              inputMode="numeric"
              min={1}
              step={1}
              data-testid="field-sizeGb"
              readOnly={fixedSizeGb !== undefined}
              required
              value={form.sizeGb}
              onChange={(e) => set('sizeGb', e.target.value, 'sizeGb')}
            />
          )}
        </Field>

        <Field id={id('activePaths')} label="Active paths" error={errorFor('activePaths')} errorTestId="error-activePaths" hint="One IP address per path.">
          {(c) => (
            <select
              {...c}
              name="activePaths"
              className="select"
              data-testid="field-activePaths"
              value={form.activePaths}
              onChange={(e) => set('activePaths', Number(e.target.value), 'activePaths')}
            >
              {Array.from({ length: MAX_PATHS }, (_, i) => i + 1).map((n) => (
                <option key={n} value={n}>
                  {n}
                </option>
              ))}
            </select>
          )}
        </Field>
      </div>

      <fieldset className="fieldset" aria-describedby={subnetDescribedBy}>
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
                  aria-describedby={subnetDescribedBy}
                  onChange={() => set('subnet', n, 'subnet')}
                />
                <span className="choice-text">
                  <span className="choice-title">{n === 3 ? 'Both subnets' : `Subnet ${n}`}</span>
                  <span className="choice-detail mono" data-testid={`subnet-info-${n}`}>
                    {n === 3 ? `${cidr(s1)} + ${cidr(s2)}` : sub ? `${cidr(sub)} · ${sub.eth}` : configError ? 'unknown' : 'loading…'}
                  </span>
                </span>
              </label>
            );
          })}
        </div>
        <FieldError id={errId('subnet')} error={errorFor('subnet')} testId="error-subnet" />
      </fieldset>

      <fieldset className="fieldset" aria-describedby={errorFor('placement') ? errId('placement') : undefined}>
        <legend>Placement</legend>
        <div className="choice-row">
          {PLACEMENT_CHOICES.map((c) => (
            <label key={c.value} className="choice-card" htmlFor={id(`placement-${c.value}`)}>
              <input
                id={id(`placement-${c.value}`)}
                type="radio"
                name={`${uid}-placement`}
                value={c.value}
                data-testid={`field-placement-${c.value}`}
                checked={form.placement === c.value}
                onChange={() => set('placement', c.value, 'placement')}
              />
              <span className="choice-text">
                <span className="choice-title">{c.title}</span>
                <span className="choice-detail">{c.detail}</span>
              </span>
            </label>
          ))}
        </div>
        {form.placement === 'spread' ? (
          <p className="field-warning" role="note" data-testid="placement-spread-warning">
            SCSI reservations then hold per node, not per disk: do not share this disk between hosts of a cluster (VMware, Hyper-V, Windows failover cluster,
            fence_scsi).
          </p>
        ) : null}
        <FieldError id={errId('placement')} error={errorFor('placement')} testId="error-placement" />
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
            {ipField('path1', 'Path 1 IP', s1 && form.subnet !== 2 ? s1.autoIpFrom : s2?.autoIpFrom)}
            {form.activePaths === 2 ? ipField('path2', 'Path 2 IP', s2 && form.subnet !== 1 ? s2.autoIpFrom : s1?.autoIpFrom) : null}
          </div>
        ) : (
          <p className="field-hint" data-testid="ip-preview" aria-live="polite">
            {preview && preview.key === previewKey ? `Automatic IPs now: ${preview.text}` : 'Automatic IPs: …'}
          </p>
        )}
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
          <Field id={id('acl.iqn')} label="Initiator IQN" error={errorFor('acl.iqn')} errorTestId="error-acl.iqn" wide>
            {(c) => (
              <input
                {...c}
                name="acl.iqn"
                className="input mono"
                type="text"
                autoComplete="off"
                spellCheck={false}
                placeholder="iqn.1993-08.org.debian:01:host1"
                data-testid="field-acl.iqn"
                required
                value={form.iqn}
                onChange={(e) => set('iqn', e.target.value, 'acl.iqn')}
              />
            )}
          </Field>
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
            <Field id={id('chap.user')} label="CHAP user name" error={errorFor('chap.user')} errorTestId="error-chap.user" hint={RULES.chapUser}>
              {(c) => (
                <input
                  {...c}
                  name="chap.user"
                  className="input"
                  type="text"
                  autoComplete="off"
                  spellCheck={false}
                  data-testid="field-chap.user"
                  required
                  value={form.chapUser}
                  onChange={(e) => set('chapUser', e.target.value, 'chap.user')}
                />
              )}
            </Field>
            <Field id={id('chap.password')} label="CHAP password" error={errorFor('chap.password')} errorTestId="error-chap.password" hint={RULES.chapPassword}>
              {(c) => (
                <input
                  {...c}
                  name="chap.password"
                  className="input"
                  type="password"
                  autoComplete="new-password"
                  data-testid="field-chap.password"
                  required
                  value={form.chapPassword}
                  onChange={(e) => set('chapPassword', e.target.value, 'chap.password')}
                />
              )}
            </Field>
          </div>
        ) : null}
        {form.authMode === 'chap' ? (
          <label className="radio" htmlFor={id('mutual')}>
            <input id={id('mutual')} type="checkbox" data-testid="field-mutual" checked={form.mutual} onChange={(e) => set('mutual', e.target.checked)} />
            Mutual CHAP: hosts check the target too
          </label>
        ) : null}
        {form.authMode === 'chap' && form.mutual ? (
          <div className="form-grid">
            <Field
              id={id('chap.targetUser')}
              label="Target user name"
              error={errorFor('chap.targetUser')}
              errorTestId="error-chap.targetUser"
              hint="The target's own name, set on the hosts; not the CHAP user."
            >
              {(c) => (
                <input
                  {...c}
                  name="chap.targetUser"
                  className="input"
                  type="text"
                  autoComplete="off"
                  spellCheck={false}
                  data-testid="field-chap.targetUser"
                  required
                  value={form.targetUser}
                  onChange={(e) => set('targetUser', e.target.value, 'chap.targetUser')}
                />
              )}
            </Field>
            <Field
              id={id('chap.targetPassword')}
              label="Target password"
              error={errorFor('chap.targetPassword')}
              errorTestId="error-chap.targetPassword"
              hint={`${RULES.chapPassword} Not the CHAP password.`}
            >
              {(c) => (
                <input
                  {...c}
                  name="chap.targetPassword"
                  className="input"
                  type="password"
                  autoComplete="new-password"
                  data-testid="field-chap.targetPassword"
                  required
                  value={form.targetPassword}
                  onChange={(e) => set('targetPassword', e.target.value, 'chap.targetPassword')}
                />
              )}
            </Field>
          </div>
        ) : null}
      </fieldset>

      {withQos ? (
        <QosFields
          value={form.qos}
          onChange={(k, text) => set('qos', { ...form.qos, [k]: text }, `qos.${k}`)}
          errorFor={(f) => errorFor(f as FieldName)}
          idOf={id}
          supported={config?.qosSupported}
          testIdPrefix="field"
        />
      ) : null}

      <FormActions label={submitLabel} busy={submitting} onCancel={onCancel} testId="create-disk" />
    </form>
  );
}
