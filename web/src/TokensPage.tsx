/**
 * API tokens (any logged-in user): your tokens listed (with ManageUsers, everyone's), a new one made
 * with its secret shown once with a copy button, and revoked. The server never returns a secret again.
 */
import { useCallback, useEffect, useId, useRef, useState } from 'react';
import { type ApiErrorBody, createToken, listTokens, revokeToken, type TokenCreated, type TokenView } from './api';
import { CardTable } from './CardTable';
import { ConfirmDialog } from './ConfirmDialog';
import { FormActions, FormError, focusError, LoadError, placeError, TextField, useFormSubmit } from './Field';
import { formatDate } from './format';
import { Modal } from './Modal';
import { useNotify } from './notify';
import { PageHead } from './PageHead';
import { useMe, usePermissions } from './session';

type Dialog = { kind: 'create' } | { kind: 'created'; token: TokenCreated } | { kind: 'revoke'; token: TokenView };

export function TokensPage() {
  const { can } = usePermissions();
  const me = useMe();
  const notify = useNotify();
  const everyone = can('ManageUsers');
  const [tokens, setTokens] = useState<TokenView[] | undefined>(undefined);
  const [error, setError] = useState<ApiErrorBody | undefined>(undefined);
  const [dialog, setDialog] = useState<Dialog | undefined>(undefined);

  const load = useCallback(() => {
    void listTokens(everyone).then((r) => {
      if (r.ok) setTokens([...r.value].sort((a, b) => a.user.localeCompare(b.user) || a.createdAt.localeCompare(b.createdAt)));
      setError(r.ok ? undefined : r.error);
    });
  }, [everyone]);
  useEffect(load, [load]);

  const close = (): void => setDialog(undefined);

  return (
    <>
      <PageHead
        title="API tokens"
        sub={
          <span className="page-sub">
            For scripts and monitoring: send as <span className="mono">Authorization: Bearer …</span>. A token acts as its owner, with their role.
          </span>
        }
        actions={
          <button type="button" className="button button-primary" onClick={() => setDialog({ kind: 'create' })} data-testid="create-token">
            <span aria-hidden="true" className="plus">
              +
            </span>
            New token
          </button>
        }
      />
      {error ? <LoadError what="API tokens" error={error} onRetry={load} /> : null}
      <CardTable
        title={everyone ? "Everyone's tokens" : 'Your tokens'}
        rows={tokens}
        failed={error !== undefined}
        testId="tokens-table"
        rowKey={(t) => t.id}
        rowTestId={(t) => `token-row-${t.name}`}
        empty="No API token yet."
        columns={[
          { head: 'Name', className: 'cell-strong', cell: (t) => t.name },
          { head: 'Owner', cell: (t) => (t.user === me.user.name ? `${t.user} (you)` : t.user), show: everyone },
          { head: 'Id', className: 'mono', cell: (t) => t.id },
          { head: 'Created', className: 'nowrap', cell: (t) => formatDate(t.createdAt) },
          { head: 'Last used', className: 'nowrap', cell: (t) => (t.lastUsedAt ? formatDate(t.lastUsedAt) : 'never') },
          {
            head: 'Actions',
            srOnly: true,
            className: 'cell-actions',
            cell: (t) => (
              <button
                type="button"
                className="button button-small button-danger-outline"
                onClick={() => setDialog({ kind: 'revoke', token: t })}
                aria-label={`Revoke token ${t.name}`}
                data-testid={`revoke-token-${t.name}`}
              >
                Revoke
              </button>
            ),
          },
        ]}
      />

      {dialog?.kind === 'create' ? (
        <Modal title="New API token" onClose={close} testId="create-token-dialog">
          <TokenForm
            onCancel={close}
            onDone={(t) => {
              setDialog({ kind: 'created', token: t });
              load();
            }}
          />
        </Modal>
      ) : null}
      {dialog?.kind === 'created' ? <TokenSecret token={dialog.token} onClose={close} /> : null}
      {dialog?.kind === 'revoke' ? (
        <ConfirmDialog
          title={`Revoke token ${dialog.token.name}`}
          confirmLabel="Revoke token"
          danger
          onClose={close}
          testId="revoke-token-dialog"
          onConfirm={async () => {
            const r = await revokeToken(dialog.token.id);
            if (!r.ok) return r.error;
            close();
            notify(`Token ${dialog.token.name} revoked.`);
            load();
            return undefined;
          }}
        >
          <p>
            Revoke <strong>{dialog.token.name}</strong> ({dialog.token.user})? Anything using it is refused from now on.
          </p>
        </ConfirmDialog>
      ) : null}
    </>
  );
}

function TokenForm({ onCancel, onDone }: { onCancel: () => void; onDone: (t: TokenCreated) => void }) {
  const uid = useId();
  const id = (f: string): string => `${uid}-${f}`;
  const [name, setName] = useState('');
  const { busy, error, errorFor, onSubmit } = useFormSubmit(() => createToken(name.trim()), {
    onDone,
    place: (err) => placeError(err, ['name']),
    focus: (shown) => focusError(shown, id, id('form-error')),
  });
  return (
    <form className="form" onSubmit={onSubmit} noValidate aria-busy={busy} data-testid="token-form">
      <FormError id={id('form-error')} error={error} />
      <TextField
        id={id('name')}
        label="Name"
        error={errorFor('name')}
        errorTestId="error-token-name"
        hint="What uses it, e.g. prometheus (1-64 printable characters)."
        autoComplete="off"
        spellCheck={false}
        data-autofocus
        data-testid="token-name"
        value={name}
        onChange={setName}
      />
      <FormActions label="Create token" busy={busy} onCancel={onCancel} testId="token-submit" />
    </form>
  );
}

/** The new token's secret, this once: selectable, with a copy button. */
function TokenSecret({ token, onClose }: { token: TokenCreated; onClose: () => void }) {
  const input = useRef<HTMLInputElement>(null);
  const [copied, setCopied] = useState<'yes' | 'no' | undefined>(undefined);
  async function copy(): Promise<void> {
    input.current?.select();
    try {
      await navigator.clipboard.writeText(token.token);
      setCopied('yes');
    } catch {
      setCopied('no');
    }
  }
  return (
    <Modal title={`Token ${token.name} created`} onClose={onClose} testId="token-created-dialog">
      <p className="alert alert-warning">This is the only time the token is shown: store it now. Portway keeps only its hash.</p>
      <div className="field">
        <label htmlFor="new-token-secret">Token</label>
        <div className="secret-row">
          <input
            id="new-token-secret"
            ref={input}
            className="input mono"
            readOnly
            value={token.token}
            onFocus={(e) => e.target.select()}
            data-testid="token-secret"
            data-autofocus
          />
          <button type="button" className="button" onClick={() => void copy()} data-testid="token-copy">
            Copy
          </button>
        </div>
        <p className="field-hint" role="status" data-testid="token-copied">
          {copied === 'yes' ? 'Copied to the clipboard.' : copied === 'no' ? 'The browser refused the clipboard: the token is selected, press Ctrl+C.' : ''}
        </p>
      </div>
      <div className="form-actions">
        <button type="button" className="button button-primary" onClick={onClose} data-testid="token-done">
          Done
        </button>
      </div>
    </Modal>
  );
}
