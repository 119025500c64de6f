/** Short notices ("Disk 00003 deleted.") in one polite live region, gone after a few seconds. */
import { createContext, type ReactNode, useCallback, useContext, useEffect, useRef, useState } from 'react';

type Kind = 'success' | 'error';
interface Notice {
  id: number;
  text: string;
  kind: Kind;
}

const NotifyContext = createContext<(text: string, kind?: Kind) => void>(() => {});
const NOTICE_MS = 6000;
let nextId = 1;

export function NotifyProvider({ children }: { children: ReactNode }) {
  const [notices, setNotices] = useState<Notice[]>([]);
  const timers = useRef(new Set<ReturnType<typeof setTimeout>>());
  const dismiss = useCallback((id: number): void => setNotices((prev) => prev.filter((n) => n.id !== id)), []);
  const notify = useCallback(
    (text: string, kind: Kind = 'success') => {
      const id = nextId++;
      setNotices((prev) => [...prev.slice(-2), { id, text, kind }]);
      const t = setTimeout(() => {
        timers.current.delete(t);
        dismiss(id);
      }, NOTICE_MS);
      timers.current.add(t);
    },
    [dismiss],
  );
  useEffect(() => {
    const all = timers.current;
    return () => {
      for (const t of all) clearTimeout(t);
    };
  }, []);

  return (
    <NotifyContext.Provider value={notify}>
      {children}
      <div className="toasts" role="status" aria-live="polite">
        {notices.map((n) => (
          <div key={n.id} className={`toast toast-${n.kind}`} data-testid="notice">
            <span>{n.text}</span>
            <button type="button" className="toast-close" aria-label="Dismiss" onClick={() => dismiss(n.id)}>
              <span aria-hidden="true">×</span>
            </button>
          </div>
        ))}
      </div>
    </NotifyContext.Provider>
  );
}

export function useNotify(): (text: string, kind?: Kind) => void {
  return useContext(NotifyContext);
}
