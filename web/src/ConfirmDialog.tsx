/**
 * A confirmation dialog for one action: what will happen, an optional "type X to confirm", and the
 * server's message when the action is refused (the dialog stays open so the user can read it).
 */
import { type ReactNode, useId, useState } from 'react';
import type { ApiErrorBody } from './api';
import { TextField, useFormSubmit } from './Field';
import { Modal } from './Modal';

interface ConfirmDialogProps {
  title: ReactNode;
  children: ReactNode;
  confirmLabel: string;
  /** Runs the action; resolves to the error to show, or undefined when done (the caller closes the dialog). */
  onConfirm: () => Promise<ApiErrorBody | undefined>;
  onClose: () => void;
  danger?: boolean;
  /** The user must type this to enable the confirm button. */
  typeToConfirm?: string;
  /** Why the action cannot run now; shown instead of enabling the confirm button. */
  blockedReason?: ReactNode;
  testId?: string;
}

export function ConfirmDialog({ title, children, confirmLabel, onConfirm, onClose, danger, typeToConfirm, blockedReason, testId }: ConfirmDialogProps) {
  const inputId = useId();
  const [typed, setTyped] = useState('');
  // The caller closes the dialog when done; a refusal is shown above the buttons (no field to put it beside).
  const { busy, error, onSubmit } = useFormSubmit(
    async () => {
      const err = await onConfirm();
      return err ? { ok: false as const, error: err } : { ok: true as const, value: undefined };
    },
    { onDone: () => {}, place: (err) => ({ field: undefined, message: err.message }), focus: () => {} },
  );
  const typedOk = typeToConfirm === undefined || typed.trim() === typeToConfirm;
  const disabled = busy || !typedOk || blockedReason !== undefined;

  return (
    <Modal title={title} onClose={onClose} testId={testId ?? 'confirm-dialog'}>
      <form className="form" onSubmit={(e) => (disabled ? e.preventDefault() : onSubmit(e))} aria-busy={busy} noValidate>
        <div className="confirm-text">{children}</div>
        {blockedReason ? (
          <p className="alert alert-warning" data-testid="confirm-blocked">
            {blockedReason}
          </p>
        ) : null}
        {typeToConfirm !== undefined && blockedReason === undefined ? (
          <TextField
            id={inputId}
            label={
              <>
                Type <strong className="mono">{typeToConfirm}</strong> to confirm
              </>
            }
            autoComplete="off"
            spellCheck={false}
            data-autofocus
            data-testid="confirm-input"
            value={typed}
            onChange={setTyped}
          />
        ) : null}
        {error ? (
          <p className="alert alert-error" role="alert" data-testid="confirm-error">
            {error.message}
          </p>
        ) : null}
        <div className="form-actions">
          <button
            type="button"
            className="button"
            onClick={onClose}
            data-autofocus={typeToConfirm === undefined || blockedReason !== undefined ? true : undefined}
          >
            Cancel
          </button>
          <button type="submit" className={danger ? 'button button-danger' : 'button button-primary'} disabled={disabled} data-testid="confirm-button">
            {busy ? <span className="spinner" aria-hidden="true" /> : null}
            {confirmLabel}
          </button>
        </div>
      </form>
    </Modal>
  );
}
