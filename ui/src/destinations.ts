// Every destination's name and page, for the pages that only get ids
// (analytics, dead letters). Read from the webhook and integration lists.
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import { api, must, type Integration, type Schemas, type Webhook } from './api/client';
import { href } from './router';

export interface Dest {
  id: string;
  kind: string; // webhook, slack, teams, email, zapier
  name: string;
  status: string;
  href: string;
  /** retryPath is the destination's redrive operation. */
  retryPath: 'webhook' | 'integration';
  raw: Webhook | Integration;
}

export type Dests = Map<string, Dest>;

const MAX_PAGES = 50; // 5,000 destinations of each kind

export async function loadDestinations(): Promise<Dests> {
  const out: Dests = new Map();
  let cursor: string | undefined;
  for (let i = 0; i < MAX_PAGES; i++) {
    const page: Schemas['WebhookList'] = await must(api.GET('/api/v1/webhooks', { params: { query: { limit: 100, cursor } } }));
    for (const w of page.data ?? []) {
      out.set(w.id, { id: w.id, kind: 'webhook', name: w.name, status: w.status, href: href.webhook(w.id), retryPath: 'webhook', raw: w });
    }
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  cursor = undefined;
  for (let i = 0; i < MAX_PAGES; i++) {
    const page: Schemas['IntegrationList'] = await must(api.GET('/api/v1/integrations', { params: { query: { limit: 100, cursor } } }));
    for (const n of page.data ?? []) {
      out.set(n.id, {
        id: n.id, kind: n.integration_type, name: n.name, status: n.status, href: href.integration(n.name), retryPath: 'integration', raw: n,
      });
    }
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return out;
}

export const DestsContext = createContext<Dests>(new Map());
export const useDests = () => useContext(DestsContext);

/** retry redrives a destination's failed deliveries selected by body. */
export async function retry(
  d: Dest,
  body: { status?: 'failed' | 'permanent_failure'; event_type?: string; since?: string; until?: string; delivery_ids?: string[] },
): Promise<number> {
  const r =
    d.retryPath === 'webhook'
      ? await must(api.POST('/api/v1/webhooks/{webhook_id}/retry', { params: { path: { webhook_id: d.id } }, body }))
      : await must(api.POST('/api/v1/integrations/{name}/retry', { params: { path: { name: d.name } }, body }));
  return r.redriven;
}

/** getDelivery reads one delivery with its attempts through its destination. */
export function getDelivery(d: Pick<Dest, 'id' | 'name' | 'retryPath'>, deliveryID: string) {
  return d.retryPath === 'webhook'
    ? must(api.GET('/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}', { params: { path: { webhook_id: d.id, delivery_id: deliveryID } } }))
    : must(api.GET('/api/v1/integrations/{name}/deliveries/{delivery_id}', { params: { path: { name: d.name, delivery_id: deliveryID } } }));
}

/** getDest reads a destination's current state (single answers carry the most fields). */
export function getDest(d: Pick<Dest, 'id' | 'name' | 'retryPath'>): Promise<Webhook | Integration> {
  return d.retryPath === 'webhook'
    ? must(api.GET('/api/v1/webhooks/{webhook_id}', { params: { path: { webhook_id: d.id } } }))
    : must(api.GET('/api/v1/integrations/{name}', { params: { path: { name: d.name } } }));
}
