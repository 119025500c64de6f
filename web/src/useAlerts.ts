/** The cluster's events and health, re-read every few seconds (GET /api/v1/alerts). */
import { useEffect, useState } from 'react';
import { type ApiErrorBody, type ClusterEventView, type HealthView, getAlerts } from './api';

const ALERTS_REFRESH_MS = 3000;

export function useAlerts(limit = 100): { events?: ClusterEventView[]; health?: HealthView; error?: ApiErrorBody } {
  const [state, setState] = useState<{ events?: ClusterEventView[]; health?: HealthView; error?: ApiErrorBody }>({});
  useEffect(() => {
    let cancelled = false;
    const load = () =>
      void getAlerts(limit).then((r) => {
        if (cancelled) return;
        setState((s) => (r.ok ? { events: r.value.events, health: r.value.health } : { ...s, error: r.error }));
      });
    load();
    const t = setInterval(load, ALERTS_REFRESH_MS);
    return () => {
      cancelled = true;
      clearInterval(t);
    };
  }, [limit]);
  return state;
}
