// The dashboard's only way to the server: the public REST API through a
// client generated from its OpenAPI document (schema.d.ts, written by
// `make ui` from `lokihooks openapi`), so the UI and the spec cannot drift.
import createClient, { type Middleware } from 'openapi-fetch';
import type { components, paths } from './schema';

export type Schemas = components['schemas'];
export type Webhook = Schemas['Webhook'];
export type Integration = Schemas['Integration'];
export type Delivery = Schemas['Delivery'];
export type DeliveryWithAttempts = Schemas['DeliveryWithAttempts'];
export type Attempt = Schemas['Attempt'];
export type AnalyticsStats = Schemas['AnalyticsStats'];
export type AnalyticsPoint = Schemas['AnalyticsPoint'];
export type AnalyticsOverview = Schemas['AnalyticsOverview'];
export type DestinationAnalytics = Schemas['DestinationAnalytics'];
export type DestinationStats = Schemas['DestinationStats'];
export type HistoryEntry = Schemas['HistoryEntry'];
export type DeliveryStatus = Delivery['status'];

export const DELIVERY_STATUSES: DeliveryStatus[] = ['pending', 'retrying', 'delivered', 'failed', 'permanent_failure'];

// The API key lives in sessionStorage only: it is gone when the tab closes,
// and never reaches localStorage, a cookie or a URL.
const KEY = 'lokihooks.apiKey';

export const session = {
  key: (): string => sessionStorage.getItem(KEY) ?? '',
  set: (k: string) => sessionStorage.setItem(KEY, k),
  clear: () => sessionStorage.removeItem(KEY),
};

/** ApiError is a problem+json answer (or a network failure, status 0). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

type Listener = () => void;
const unauthorized = new Set<Listener>();

/** onUnauthorized calls f whenever the API refuses the key (401). */
export function onUnauthorized(f: Listener): () => void {
  unauthorized.add(f);
  return () => unauthorized.delete(f);
}

const auth: Middleware = {
  onRequest({ request }) {
    const key = session.key();
    if (key) request.headers.set('Authorization', `Bearer ${key}`);
    return request;
  },
  onResponse({ response }) {
    if (response.status === 401 && session.key()) unauthorized.forEach((f) => f());
    return response;
  },
};

export const api = createClient<paths>({ baseUrl: '' });
api.use(auth);

/** problemMessage turns an error body into one readable line. */
export function problemMessage(status: number, body: unknown): string {
  const p = (body ?? {}) as Schemas['ErrorModel'];
  const parts = [p.detail || p.title || `HTTP ${status}`];
  for (const e of p.errors ?? []) parts.push(`${e.location ? e.location + ': ' : ''}${e.message ?? ''}`);
  return parts.join('; ');
}

/**
 * must returns the data of an openapi-fetch result, or throws an ApiError
 * carrying the problem's detail.
 */
export async function must<T>(p: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  let r;
  try {
    r = await p;
  } catch (e) {
    throw new ApiError(0, `the server did not answer (${(e as Error).message})`);
  }
  if (r.error !== undefined || !r.response.ok) throw new ApiError(r.response.status, problemMessage(r.response.status, r.error));
  return r.data as T;
}

/**
 * getJSON fetches a same-origin path the generated client does not know
 * (fields and operations newer than this build's spec), with the key.
 */
export async function getJSON(path: string): Promise<unknown> {
  const res = await fetch(path, { headers: { Authorization: `Bearer ${session.key()}`, Accept: 'application/json' } });
  const body = await res.json().catch(() => undefined);
  if (!res.ok) throw new ApiError(res.status, problemMessage(res.status, body));
  return body;
}

/** etag is the If-Match value of a destination read at version v. */
export const etag = (v: number) => `"v${v}"`;

/**
 * attemptsOf returns a delivery's attempt records. Newer API versions name
 * them attempt_history and make attempts a count; older ones put the
 * records in attempts.
 */
export function attemptsOf(d: DeliveryWithAttempts): Attempt[] {
  const h = (d as { attempt_history?: Attempt[] }).attempt_history;
  if (Array.isArray(h)) return h;
  const a = (d as { attempts?: unknown }).attempts;
  return Array.isArray(a) ? (a as Attempt[]) : [];
}
