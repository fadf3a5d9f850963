// Hash routes (#/webhooks/wh_…): the embedded file server needs no
// fallback, and a reload keeps the page.
import { useEffect, useState } from 'preact/hooks';

export type Route =
  | { page: 'overview' }
  | { page: 'destinations' }
  | { page: 'webhook'; id: string }
  | { page: 'integration'; name: string }
  | { page: 'dead-letters' }
  | { page: 'not-found'; path: string };

export function parse(hash: string): Route {
  const path = hash.replace(/^#/, '') || '/';
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0) return { page: 'overview' };
  if (parts[0] === 'destinations' && parts.length === 1) return { page: 'destinations' };
  if (parts[0] === 'dead-letters' && parts.length === 1) return { page: 'dead-letters' };
  if (parts[0] === 'webhooks' && parts.length === 2) return { page: 'webhook', id: parts[1] };
  if (parts[0] === 'integrations' && parts.length === 2) return { page: 'integration', name: parts[1] };
  return { page: 'not-found', path };
}

export const href = {
  overview: () => '#/',
  destinations: () => '#/destinations',
  deadLetters: () => '#/dead-letters',
  webhook: (id: string) => `#/webhooks/${encodeURIComponent(id)}`,
  integration: (name: string) => `#/integrations/${encodeURIComponent(name)}`,
};

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parse(location.hash));
  useEffect(() => {
    const on = () => setRoute(parse(location.hash));
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}
