// Series for the overview. The API's overview answers one range at a time
// and keeps analytics per UTC hour, so a series is one overview request per
// period: exact (the server merges the hours' sketches), never an average
// of percentiles. Periods that ended a while ago do not change and are
// answered from a cache.
import { api, must, type AnalyticsOverview, type AnalyticsStats } from './api/client';

export type RangeName = 'hour' | 'day' | 'week';

export const RANGES: Record<RangeName, { label: string; span: number; period: number; periodLabel: string }> = {
  hour: { label: 'Last hour', span: 3600e3, period: 3600e3, periodLabel: 'per UTC hour' },
  day: { label: 'Last day', span: 86400e3, period: 3600e3, periodLabel: 'per hour' },
  week: { label: 'Last week', span: 7 * 86400e3, period: 86400e3, periodLabel: 'per day' },
};

const HOUR = 3600e3;
const SETTLED = 2 * 60e3; // a period this long over is final
const cache = new Map<string, AnalyticsOverview>();

export async function overview(from: Date, to: Date): Promise<AnalyticsOverview> {
  const key = `${from.toISOString()}|${to.toISOString()}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const o = await must(api.GET('/api/v1/analytics', { params: { query: { from: from.toISOString(), to: to.toISOString() } } }));
  if (to.getTime() < Date.now() - SETTLED) {
    if (cache.size > 500) cache.clear();
    cache.set(key, o);
  }
  return o;
}

export interface Period {
  start: number; // ms
  end: number; // ms, exclusive
  stats: AnalyticsStats;
}

/** periods returns the range's periods, oldest first, aligned to UTC hours. */
export async function periods(range: RangeName, now = Date.now()): Promise<Period[]> {
  const r = RANGES[range];
  const end = Math.ceil(now / HOUR) * HOUR;
  const start = Math.floor((now - r.span) / HOUR) * HOUR;
  const bounds: [number, number][] = [];
  for (let e = end; e > start; e -= r.period) bounds.unshift([Math.max(e - r.period, start), e]);
  const answers = await Promise.all(bounds.map(([s, e]) => overview(new Date(s), new Date(e))));
  return answers.map((o, i) => ({ start: bounds[i][0], end: bounds[i][1], stats: o.summary }));
}

/** perMinute is deliveries created per minute over [start, min(end, now)). */
export function perMinute(s: AnalyticsStats, start: number, end: number, now = Date.now()): number {
  const minutes = Math.max((Math.min(end, now) - start) / 60e3, 1);
  return s.total_deliveries / minutes;
}

/** finished reports whether any delivery finished (success rate defined). */
export const finished = (s: AnalyticsStats) => s.delivered + s.failed + s.permanent_failures > 0;
