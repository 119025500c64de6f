/**
 * Cluster events (node down/up, disk degraded/recovered, path failed/recovered, fences), newest first,
 * updated every few seconds; the health summary; and the webhook every event is sent to (ManageConfig).
 */
import { type FormEvent, useEffect, useState } from 'react';
import { getWebhook, setWebhook } from './api';
import { Table } from './CardTable';
import { formatDate } from './format';
import { HealthSummary } from './HealthSummary';
import { useNotify } from './notify';
import { PageHead } from './PageHead';
import { usePermissions } from './session';
import { useAlerts } from './useAlerts';

const SEVERITY_CLASS = { critical: 'badge badge-error', warning: 'badge badge-warning', info: 'badge' } as const;

export function EventsPage() {
  const { events, health, error } = useAlerts(200);
  const { can } = usePermissions();
  return (
    <>
      <PageHead title="Events" sub={<span className="page-sub">What happened in the cluster, updated live.</span>} />
      <HealthSummary health={health} />
      {error ? (
        <p className="alert alert-error" role="alert">
          Cannot load the events: {error.message}
        </p>
      ) : null}
      <section className="card card-pad" aria-labelledby="events-h">
        <h2 id="events-h" className="card-title">
          Events
        </h2>
        {events === undefined ? (
          <p className="muted" role="status">
            Loading…
          </p>
        ) : events.length === 0 ? (
          <p className="muted" data-testid="events-none">
            No event yet.
          </p>
        ) : (
          <Table
            caption="Cluster events, newest first"
            rows={events}
            testId="events-table"
            className="table-compact"
            rowKey={(e) => e.id}
            rowTestId={(e) => `event-${e.kind}-${e.subject}`}
            columns={[
              { head: 'When', cell: (e) => <time dateTime={e.at}>{formatDate(e.at)}</time> },
              { head: 'Severity', cell: (e) => <span className={SEVERITY_CLASS[e.severity]}>{e.severity}</span> },
              { head: 'Event', className: 'mono', cell: (e) => e.kind },
              { head: 'What', cell: (e) => e.message },
            ]}
          />
        )}
      </section>
      {can('ManageConfig') ? <WebhookForm /> : null}
    </>
  );
}

function WebhookForm() {
  const notify = useNotify();
  const [url, setUrl] = useState('');
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    void getWebhook().then((r) => {
      if (r.ok) setUrl(r.value ?? '');
    });
  }, []);
  async function save(e: FormEvent): Promise<void> {
    e.preventDefault();
    setBusy(true);
    const r = await setWebhook(url.trim() === '' ? null : url.trim());
    setBusy(false);
    if (r.ok) {
      setError(undefined);
      notify(r.value ? 'Events are sent to the webhook.' : 'Webhook removed.');
    } else setError(r.error.message);
  }
  return (
    <section className="card card-pad" aria-labelledby="webhook-h">
      <h2 id="webhook-h" className="card-title">
        Webhook
      </h2>
      <form className="form" onSubmit={(e) => void save(e)} noValidate>
        <label className="field-label" htmlFor="webhook-url">
          Every event is POSTed to this URL as JSON <span className="mono">{'{event}'}</span> (empty: none)
        </label>
        <div className="inline-controls">
          <input
            id="webhook-url"
            className="input mono"
            type="url"
            placeholder="https://alerts.example.net/portway"
            value={url}
            onChange={(e) => setUrl(e.target.value)}
            aria-describedby={error ? 'webhook-error' : undefined}
            data-testid="webhook-url"
          />
          <button type="submit" className="button button-primary" disabled={busy} data-testid="webhook-save">
            Save
          </button>
        </div>
        {error ? (
          <p id="webhook-error" className="alert alert-error" role="alert">
            {error}
          </p>
        ) : null}
      </form>
    </section>
  );
}
