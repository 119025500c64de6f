/**
 * Form plumbing shared by the smaller forms (edit disk, users, roles, login, password): a labelled
 * field whose hint and server error are tied to the control (aria-describedby, aria-invalid), and
 * placement of a server error beside the field named by `details.field`, else above the form.
 */
import type { ReactNode } from 'react';
import type { ApiErrorBody } from './api';

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

/** Focuses the control of the field at fault (by id), or the form's error message. */
export function focusError(shown: ShownError, idOf: (field: string) => string, formErrorId: string): void {
  requestAnimationFrame(() => {
    document.getElementById(shown.field !== undefined ? idOf(shown.field) : formErrorId)?.focus();
  });
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
      {error ? (
        <p id={errId} className="field-error" role="alert" data-testid={errorTestId}>
          {error}
        </p>
      ) : null}
    </div>
  );
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
