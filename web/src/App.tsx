/** The app shell: header with the product name and live-update state, then the disk list page. */
import { useCallback, useEffect, useState } from 'react';
import { type ApiErrorBody, type ClusterConfigView, getConfig } from './api';
import { DiskListPage } from './DiskListPage';
import { type LiveMode, useLiveDisks } from './useLiveDisks';

const MODE_TEXT: Record<LiveMode, string> = {
  connecting: 'Connecting…',
  live: 'Live',
  polling: 'Refreshing every 2 s',
};

export function App() {
  const live = useLiveDisks();
  const [config, setConfig] = useState<ClusterConfigView | undefined>(undefined);
  const [configError, setConfigError] = useState<ApiErrorBody | undefined>(undefined);

  const loadConfig = useCallback(() => {
    void getConfig().then((r) => {
      if (r.ok) {
        setConfig(r.value);
        setConfigError(undefined);
      } else {
        setConfigError(r.error);
      }
    });
  }, []);
  useEffect(loadConfig, [loadConfig]);

  return (
    <div className="app">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <div className="brand">
          <svg className="brand-mark" viewBox="0 0 32 32" aria-hidden="true" focusable="false">
            <rect width="32" height="32" rx="7" />
            <path d="M9 9h14v4H9zM9 15h14v4H9zM9 21h14v3H9z" />
          </svg>
          <span className="brand-name">Portway</span>
          <span className="brand-sub">iSCSI SAN manager</span>
        </div>
        <div className="topbar-right">
          {config ? (
            <span className="topbar-meta mono" title="IQN base · pool">
              {config.iqnBase} · {config.pool}
            </span>
          ) : null}
          <span className={`live live-${live.mode}`} data-testid="live-mode" data-mode={live.mode}>
            <span className="live-dot" aria-hidden="true" />
            {MODE_TEXT[live.mode]}
          </span>
        </div>
      </header>
      <DiskListPage live={live} config={config} configError={configError} reloadConfig={loadConfig} />
    </div>
  );
}
