// Live updates by polling: the API has no server-sent events. A poll runs
// at once, then every interval while the tab is visible and live updates
// are on; it never overlaps itself.
import { createContext } from 'preact';
import { useCallback, useContext, useEffect, useRef, useState } from 'preact/hooks';

/** LiveContext says whether pages poll (the header's "Live updates" switch). */
export const LiveContext = createContext(true);

export interface Poll<T> {
  data?: T;
  error?: Error;
  loading: boolean;
  updatedAt?: Date;
  refresh: () => Promise<void>;
}

export function usePoll<T>(load: () => Promise<T>, intervalMs: number, deps: unknown[]): Poll<T> {
  const live = useContext(LiveContext);
  const [state, setState] = useState<{ data?: T; error?: Error; loading: boolean; updatedAt?: Date }>({ loading: true });
  const gen = useRef(0);
  const busy = useRef(false);
  const loadRef = useRef(load);
  loadRef.current = load;

  const run = useCallback(async () => {
    const mine = gen.current;
    busy.current = true;
    try {
      const data = await loadRef.current();
      if (mine === gen.current) setState({ data, loading: false, updatedAt: new Date() });
    } catch (e) {
      if (mine === gen.current) setState((s) => ({ ...s, error: e as Error, loading: false }));
    } finally {
      busy.current = false;
    }
  }, []);

  // New inputs: forget the old answer and load at once.
  useEffect(() => {
    gen.current++;
    setState({ loading: true });
    void run();
  }, deps);

  useEffect(() => {
    if (!live) return;
    const id = setInterval(() => {
      if (!document.hidden && !busy.current) void run();
    }, intervalMs);
    return () => clearInterval(id);
  }, [live, intervalMs, run]);

  return { ...state, refresh: run };
}
