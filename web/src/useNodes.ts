/**
 * The cluster's nodes (GET /api/v1/nodes), re-read every few seconds and when `trigger` changes
 * (pass the live disk list: a path moving between nodes changes it) — at most once a second, so a
 * burst of disk events (hundreds of disks starting) costs one request, not hundreds. A failed
 * refresh keeps the last list and reports the error.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import { type ApiErrorBody, listNodes, type NodeView } from './api';

export const NODES_REFRESH_MS = 4000;
const MIN_GAP_MS = 1000;

export interface Nodes {
  nodes: NodeView[] | undefined;
  error: ApiErrorBody | undefined;
  reload: () => void;
}

export function useNodes(trigger?: unknown): Nodes {
  const [nodes, setNodes] = useState<NodeView[] | undefined>(undefined);
  const [error, setError] = useState<ApiErrorBody | undefined>(undefined);
  const alive = useRef(true);
  const seq = useRef(0);
  const lastAt = useRef(0);
  const pending = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);

  const reload = useCallback(() => {
    if (pending.current !== undefined) {
      clearTimeout(pending.current);
      pending.current = undefined;
    }
    lastAt.current = Date.now();
    const mine = ++seq.current;
    void listNodes().then((r) => {
      if (!alive.current || mine !== seq.current) return;
      if (r.ok) {
        setNodes(r.value);
        setError(undefined);
      } else setError(r.error);
    });
  }, []);

  /** reload(), or once MIN_GAP_MS after the last one. */
  const soon = useCallback(() => {
    const wait = lastAt.current + MIN_GAP_MS - Date.now();
    if (wait <= 0) reload();
    else if (pending.current === undefined) pending.current = setTimeout(reload, wait);
  }, [reload]);

  useEffect(() => {
    alive.current = true;
    const t = setInterval(reload, NODES_REFRESH_MS);
    return () => {
      alive.current = false;
      clearInterval(t);
      if (pending.current !== undefined) clearTimeout(pending.current);
      pending.current = undefined;
    };
  }, [reload]);

  // biome-ignore lint/correctness/useExhaustiveDependencies: trigger is a refetch signal
  useEffect(soon, [soon, trigger]);

  return { nodes, error, reload };
}
