/**
 * Live disk list: server-sent events (`event: disks`) first; when the event stream errors,
 * poll GET /api/v1/disks every 2 s, and try the stream again every 30 s.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import { type ApiErrorBody, type DiskView, EVENTS_URL, listDisks, parseDisksEvent } from './api';

export type LiveMode = 'connecting' | 'live' | 'polling';

export interface LiveDisks {
  /** undefined until the first list arrives. */
  disks: DiskView[] | undefined;
  mode: LiveMode;
  /** The last polling error, cleared by the next good reply. */
  error: ApiErrorBody | undefined;
  /** Shows a just-created disk at once, before the next update lists it. */
  upsert: (disk: DiskView) => void;
}

export const POLL_INTERVAL_MS = 2000;
const STREAM_RETRY_MS = 30000;
const PENDING_TTL_MS = 15000;

export function useLiveDisks(): LiveDisks {
  const [disks, setDisks] = useState<DiskView[] | undefined>(undefined);
  const [mode, setMode] = useState<LiveMode>('connecting');
  const [error, setError] = useState<ApiErrorBody | undefined>(undefined);
  // Disks created here and not yet seen in an update (the update may predate the create).
  const pending = useRef(new Map<string, { disk: DiskView; at: number }>());

  const accept = useCallback((list: DiskView[]) => {
    const extra: DiskView[] = [];
    const now = Date.now();
    for (const [id, p] of pending.current) {
      if (now - p.at > PENDING_TTL_MS || list.some((x) => x.id === id)) pending.current.delete(id);
      else extra.push(p.disk);
    }
    setDisks(extra.length > 0 ? [...list, ...extra] : list);
  }, []);

  useEffect(() => {
    let stopped = false;
    let source: EventSource | undefined;
    let pollTimer: ReturnType<typeof setTimeout> | undefined;
    let retryTimer: ReturnType<typeof setTimeout> | undefined;
    let polling = false;

    const poll = async (): Promise<void> => {
      if (stopped || !polling) return;
      const r = await listDisks();
      if (stopped || !polling) return;
      if (r.ok) {
        accept(r.value);
        setError(undefined);
      } else {
        setError(r.error);
      }
      pollTimer = setTimeout(() => void poll(), POLL_INTERVAL_MS);
    };

    const startPolling = (): void => {
      if (polling) return;
      polling = true;
      setMode('polling');
      void poll();
      retryTimer = setTimeout(openStream, STREAM_RETRY_MS);
    };

    const stopPolling = (): void => {
      polling = false;
      if (pollTimer !== undefined) clearTimeout(pollTimer);
      if (retryTimer !== undefined) clearTimeout(retryTimer);
      pollTimer = undefined;
      retryTimer = undefined;
    };

    function openStream(): void {
      if (stopped) return;
      retryTimer = undefined;
      if (typeof EventSource === 'undefined') {
        startPolling();
        return;
      }
      const es = new EventSource(EVENTS_URL);
      source = es;
      es.addEventListener('disks', (ev: MessageEvent<string>) => {
        const list = parseDisksEvent(ev.data);
        if (list === undefined || stopped) return;
        stopPolling();
        accept(list);
        setError(undefined);
        setMode('live');
      });
      es.onerror = () => {
        es.close();
        if (source === es) source = undefined;
        if (stopped) return;
        if (polling) {
          // A retry of the stream failed: keep polling, try again later.
          if (retryTimer === undefined) retryTimer = setTimeout(openStream, STREAM_RETRY_MS);
        } else {
          startPolling();
        }
      };
    }

    openStream();
    return () => {
      stopped = true;
      stopPolling();
      source?.close();
    };
  }, [accept]);

  const upsert = useCallback((disk: DiskView) => {
    setDisks((prev) => {
      const list = prev ?? [];
      // An update may already carry the disk, and be newer than this reply.
      if (list.some((d) => d.id === disk.id)) return list;
      pending.current.set(disk.id, { disk, at: Date.now() });
      return [...list, disk];
    });
  }, []);

  return { disks, mode, error, upsert };
}
