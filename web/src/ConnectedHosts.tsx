/**
 * The hosts connected to one disk (initiator IQN, address, path, node, since), as the serving nodes'
 * tgtds last told them: re-read every few seconds. Also HostList, the short list the stop / detach /
 * delete dialogs show when the server refuses because hosts are connected.
 */
import { useEffect, useState } from 'react';
import { type ApiErrorBody, type ConnectedHost, getDisk } from './api';
import { Table } from './CardTable';
import { formatDate } from './format';

const HOSTS_REFRESH_MS = 3000;

export function ConnectedHosts({ id }: { id: string }) {
  const [hosts, setHosts] = useState<ConnectedHost[] | undefined>(undefined);
  const [error, setError] = useState<ApiErrorBody | undefined>(undefined);
  useEffect(() => {
    let cancelled = false;
    const load = () =>
      void getDisk(id).then((r) => {
        if (cancelled) return;
        if (r.ok) {
          setHosts(r.value.hosts ?? []);
          setError(undefined);
        } else setError(r.error);
      });
    load();
    const t = setInterval(load, HOSTS_REFRESH_MS);
    return () => {
      cancelled = true;
      clearInterval(t);
    };
  }, [id]);

  if (error) {
    return (
      <p className="alert alert-error" role="alert" data-testid="hosts-error">
        Cannot load the connected hosts: {error.message}
      </p>
    );
  }
  if (hosts === undefined) {
    return (
      <p className="muted" role="status">
        Loading…
      </p>
    );
  }
  if (hosts.length === 0) {
    return (
      <p className="muted" data-testid="hosts-none">
        No host is connected.
      </p>
    );
  }
  return (
    <Table
      caption={`Hosts connected to disk ${id}`}
      rows={hosts}
      testId="hosts-table"
      className="table-compact"
      rowKey={(h) => `${h.node}/${h.portal}/${h.iqn}/${h.address}/${h.since}`}
      rowTestId={(h) => `host-row-${h.iqn}`}
      columns={[
        { head: 'Initiator (IQN)', className: 'mono', cell: (h) => h.iqn },
        { head: 'Address', className: 'mono', cell: (h) => h.address },
        { head: 'Path', cell: (h) => (h.path === null ? <span className="muted">{h.portal || 'unknown'}</span> : `${h.path} (${h.portal})`) },
        { head: 'Node', cell: (h) => h.node },
        { head: 'Connections', headClassName: 'num', className: 'num', cell: (h) => h.connections },
        { head: 'Seen since', cell: (h) => <time dateTime={h.since}>{formatDate(h.since)}</time> },
      ]}
    />
  );
}

/** Who is connected, for a refusal in a dialog. */
export function HostList({ hosts }: { hosts: readonly ConnectedHost[] }) {
  return (
    <ul className="host-list" data-testid="refused-hosts">
      {hosts.map((h) => (
        <li key={`${h.node}/${h.portal}/${h.iqn}/${h.address}/${h.since}`}>
          <span className="mono">{h.iqn}</span> from <span className="mono">{h.address}</span>
          {h.path === null ? '' : ` on path ${h.path}`} ({h.node})
        </li>
      ))}
    </ul>
  );
}
