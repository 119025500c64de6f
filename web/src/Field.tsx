/**
 * Form plumbing shared by the forms (add and edit disk, users, roles, login, password): a labelled
 * field whose hint and server error are tied to the control (aria-describedby, aria-invalid), and
 * placement of a server error beside the field named by `details.field`, else above the form.
 */
import { type ComponentProps, type FormEvent, type ReactNode, useState } from 'react';
import type { ApiErrorBody, ApiResult } from './api';

export interface ShownError {
  /** The visible field at fault; undefined: show above the form. */
  field: string | undefined;
  message: string;
}

/** Where to show a server error: beside its field when the form shows that field, else above it. */
export function placeError(err: ApiErrorBody, visible: readonly string[], aliases: Record<string, string> = {}): ShownError {
  const raw = typeof err.details.field === 'string' ? err.details.field : undefined;
  const field = raw === undefined ? undefined : visible.includes(raw) ? raw : aliases[raw];
  return { field: field !== undefined && visible.includes(field) ? field : undefined, message: err.message };
}

/**
 * Focuses an element once it is rendered: React may render the state just set after the next frame, so
 * an element that is not there yet (an error message above the form) is looked for again, for ~10 frames.
 */
export function focusWhenRendered(find: () => HTMLElement | null | undefined): void {
  let frames = 0;
  const attempt = () => {
    const el = find();
    if (el) el.focus();
    else if (++frames < 10) requestAnimationFrame(attempt);
  };
  requestAnimationFrame(attempt);
}

/** Focuses the control of the field at fault (by id), or the form's error message. */
export function focusError(shown: ShownError, idOf: (field: string) => string, formErrorId: string): void {
  focusWhenRendered(() => document.getElementById(shown.field !== undefined ? idOf(shown.field) : formErrorId));
}

/**
 * A form's submit: `send` runs once at a time (busy meanwhile); on success onDone gets the value; a
 * server error is placed (beside the field it names, else above the form) and focused.
 */
export function useFormSubmit<T>(
  send: () => Promise<ApiResult<T>>,
  o: { onDone: (value: T) => void; place: (err: ApiErrorBody) => ShownError; focus: (shown: ShownError) => void },
) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ShownError | undefined>(undefined);
  async function submit(e: FormEvent<HTMLFormElement>): Promise<void> {
    e.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(undefined);
    const r = await send();
    setBusy(false);
    if (r.ok) {
      o.onDone(r.value);
      return;
    }
    const shown = o.place(r.error);
    setError(shown);
    o.focus(shown);
  }
  return {
    busy,
    error,
    /** The message of the error shown beside field f, if any. */
    errorFor: (f: string): string | undefined => (error?.field === f ? error.message : undefined),
    onSubmit: (e: FormEvent<HTMLFormElement>): void => void submit(e),
  };
}

export interface ControlProps {
  id: string;
  'aria-invalid': true | undefined;
  'aria-describedby': string | undefined;
}

interface FieldProps {
  id: string;
  label: ReactNode;
  error?: string | undefined;
  hint?: ReactNode;
  /** data-testid of the error message. */
  errorTestId?: string;
  wide?: boolean;
  children: (control: ControlProps) => ReactNode;
}

export function Field({ id, label, error, hint, errorTestId, wide, children }: FieldProps) {
  const hintId = `${id}-hint`;
  const errId = `${id}-error`;
  const describedBy = [hint ? hintId : '', error ? errId : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div className={wide ? 'field field-wide' : 'field'}>
      <label htmlFor={id}>{label}</label>
      {children({ id, 'aria-invalid': error ? true : undefined, 'aria-describedby': describedBy })}
      {hint ? (
        <p id={hintId} className="field-hint">
          {hint}
        </p>
      ) : null}
      <FieldError id={errId} error={error} testId={errorTestId} />
    </div>
  );
}

type InputProps = Omit<ComponentProps<'input'>, 'id' | 'value' | 'onChange' | 'className' | 'children'>;

/**
 * A Field holding a text input (or password, search...): `value` and `onChange(text)`; other props
 * (type, autoComplete, data-testid, ref...) go to the input. className adds to "input".
 */
export function TextField({
  id,
  label,
  error,
  hint,
  errorTestId,
  wide,
  value,
  onChange,
  className,
  ...input
}: Omit<FieldProps, 'children'> & InputProps & { value: string; onChange: (value: string) => void; className?: string }) {
  return (
    <Field id={id} label={label} error={error} hint={hint} errorTestId={errorTestId} wide={wide}>
      {(c) => <input {...c} className={className ? `input ${className}` : 'input'} {...input} value={value} onChange={(e) => onChange(e.target.value)} />}
    </Field>
  );
}

/** A field's error message, for a control Field does not wrap (a fieldset, a table cell); nothing without an error. */
export function FieldError({ id, error, testId }: { id: string; error: string | undefined; testId?: string | undefined }) {
  return error ? (
    <p id={id} className="field-error" role="alert" data-testid={testId}>
      {error}
    </p>
  ) : null;
}

/** The error above a form (no field to show it beside); focusable so it can take focus. */
export function FormError({ id, error, testId }: { id: string; error: ShownError | undefined; testId?: string }) {
  if (!error || error.field !== undefined) return null;
  return (
    <div id={id} className="alert alert-error" role="alert" tabIndex={-1} data-testid={testId ?? 'form-error'}>
      {error.message}
    </div>
  );
}

/** Cancel and the form's submit button, with a spinner while it is busy (disabled while busy unless `disabled` says otherwise). */
export function FormActions({
  label,
  busy,
  disabled,
  onCancel,
  testId,
}: {
  label: ReactNode;
  busy: boolean;
  disabled?: boolean;
  onCancel: () => void;
  /** data-testid of the submit button. */
  testId?: string;
}) {
  return (
    <div className="form-actions">
      <button type="button" className="button" onClick={onCancel}>
        Cancel
      </button>
      <button type="submit" className="button button-primary" disabled={disabled ?? busy} data-testid={testId}>
        {busy ? <span className="spinner" aria-hidden="true" /> : null}
        {label}
      </button>
    </div>
  );
}

/** A page-level load failure with a retry button. */
export function LoadError({ what, error, onRetry, testId }: { what: string; error: ApiErrorBody; onRetry?: () => void; testId?: string }) {
  return (
    <div className="alert alert-error alert-row" role="alert" data-testid={testId ?? 'load-error'}>
      <span>
        Cannot load {what}: {error.message}
      </span>
      {onRetry ? (
        <button type="button" className="button button-small" onClick={onRetry}>
          Try again
        </button>
      ) : null}
    </div>
  );
}
