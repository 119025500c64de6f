/**
 * The "Limits (QoS)" section of the add and edit forms: IOPS and bandwidth caps, total, read and write,
 * collapsed unless a limit is set or one is at fault. Bandwidth is entered in MiB/s and sent in bytes/s.
 * Where the storage cannot enforce limits (file images) the fields are disabled and say why.
 */
import { useEffect, useId, useState } from 'react';
import { QOS_LIMITS, type Qos, type QosLimit } from '../../src/domain/qos';
import { Field, FieldError } from './Field';

export type QosForm = Record<QosLimit, string>;

export const EMPTY_QOS: QosForm = { iops: '', readIops: '', writeIops: '', bps: '', readBps: '', writeBps: '' };

const MIB = 1024 * 1024;
const isBytes = (k: QosLimit): boolean => k.toLowerCase().endsWith('bps');

const LABELS: Record<QosLimit, string> = {
  iops: 'IOPS (total)',
  readIops: 'Read IOPS',
  writeIops: 'Write IOPS',
  bps: 'Bandwidth MiB/s (total)',
  readBps: 'Read MiB/s',
  writeBps: 'Write MiB/s',
};

/** The form's text of a disk's limits. */
export function qosFormOf(q: Qos | undefined): QosForm {
  const f = { ...EMPTY_QOS };
  for (const k of QOS_LIMITS) {
    const v = q?.[k];
    if (v !== undefined) f[k] = isBytes(k) ? String(Math.round((v / MIB) * 100) / 100) : String(v);
  }
  return f;
}

/** A field's value for the request: a number (bandwidth in bytes/s), or the text as typed for the server's rules to refuse. */
function limitValue(k: QosLimit, text: string): number | string {
  const t = text.trim();
  if (!/^\d+(\.\d+)?$/.test(t)) return t;
  const n = Number(t);
  return isBytes(k) ? Math.round(n * MIB) : Number.isInteger(n) ? n : t;
}

/**
 * The request's `qos`: at an add the limits typed; at an edit (`was`) only those changed, an emptied
 * one as null (removed). Undefined when there is nothing to send.
 */
export function qosRequest(f: QosForm, was?: Qos): Record<string, number | string | null> | undefined {
  const out: Record<string, number | string | null> = {};
  const before = qosFormOf(was);
  for (const k of QOS_LIMITS) {
    const t = f[k].trim();
    if (was === undefined) {
      if (t !== '') out[k] = limitValue(k, t);
    } else if (t !== before[k]) out[k] = t === '' ? null : limitValue(k, t);
  }
  return Object.keys(out).length ? out : undefined;
}

/** A short text of a disk's limits: "500 IOPS, read 10 MiB/s" or "None". */
export function qosSummary(q: Qos | undefined): string {
  const parts: string[] = [];
  for (const k of QOS_LIMITS) {
    const v = q?.[k];
    if (v === undefined) continue;
    const dir = k.startsWith('read') ? 'read ' : k.startsWith('write') ? 'write ' : '';
    parts.push(isBytes(k) ? `${dir}${Math.round((v / MIB) * 100) / 100} MiB/s` : `${dir}${v} IOPS`);
  }
  return parts.length ? parts.join(', ') : 'None';
}

interface QosFieldsProps {
  value: QosForm;
  onChange: (k: QosLimit, text: string) => void;
  /** The error shown on a field (`qos`, `qos.iops`...). */
  errorFor: (field: string) => string | undefined;
  idOf: (field: string) => string;
  /** false: the backend cannot enforce limits; undefined: not known yet. */
  supported: boolean | undefined;
  testIdPrefix: string;
}

export function QosFields({ value, onChange, errorFor, idOf, supported, testIdPrefix }: QosFieldsProps) {
  const hintId = useId();
  const faulty = errorFor('qos') !== undefined || QOS_LIMITS.some((k) => errorFor(`qos.${k}`) !== undefined);
  const [open, setOpen] = useState(() => QOS_LIMITS.some((k) => value[k] !== ''));
  useEffect(() => {
    if (faulty) setOpen(true);
  }, [faulty]);
  const disabled = supported === false;
  return (
    <details className="fieldset qos" open={open} onToggle={(e) => setOpen(e.currentTarget.open)} data-testid={`${testIdPrefix}-qos`}>
      <summary id={idOf('qos')} className="qos-summary" data-testid={`${testIdPrefix}-qos-toggle`}>
        Limits (QoS)
      </summary>
      <p id={hintId} className="field-hint">
        {disabled
          ? 'This storage (file images) cannot enforce limits: Ceph RBD images only.'
          : 'Empty: no limit. Enforced by the storage for every host together; a change applies at once, without a restart.'}
      </p>
      <div className="form-grid form-grid-3">
        {QOS_LIMITS.map((k) => (
          <Field key={k} id={idOf(`qos.${k}`)} label={LABELS[k]} error={errorFor(`qos.${k}`)} errorTestId={`error-qos.${k}`}>
            {(c) => (
              <input
                {...c}
                className="input"
                type="text"
                inputMode={isBytes(k) ? 'decimal' : 'numeric'}
                autoComplete="off"
                disabled={disabled}
                placeholder="no limit"
                data-testid={`${testIdPrefix}-qos-${k}`}
                value={value[k]}
                onChange={(e) => onChange(k, e.target.value)}
              />
            )}
          </Field>
        ))}
      </div>
      <FieldError id={`${idOf('qos')}-error`} error={errorFor('qos')} testId="error-qos" />
    </details>
  );
}
