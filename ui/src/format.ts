export const fmtInt = (n: number) => n.toLocaleString('en-US');

export function fmtMS(ms: number | null | undefined): string {
  if (ms == null || !isFinite(ms)) return '–';
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 100) return `${Math.round(ms)} ms`;
  return `${ms.toFixed(ms >= 10 ? 1 : 2)} ms`;
}

export const fmtPct = (r: number | null | undefined, digits = 1) => (r == null || !isFinite(r) ? '–' : `${(r * 100).toFixed(digits)} %`);

export function fmtRate(perMinute: number): string {
  if (perMinute >= 100) return fmtInt(Math.round(perMinute));
  if (perMinute >= 1) return perMinute.toFixed(1);
  return perMinute.toFixed(2);
}

/** fmtTime shows a timestamp in the browser's time zone, to the second. */
export function fmtTime(s: string | null | undefined): string {
  if (!s) return '–';
  const d = new Date(s);
  return isNaN(d.getTime()) ? s : d.toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'medium' });
}

/** fmtAgo says how long ago (or in how long) t is, compactly. */
export function fmtAgo(s: string | null | undefined, now = Date.now()): string {
  if (!s) return '';
  const d = (new Date(s).getTime() - now) / 1000;
  const a = Math.abs(d);
  const v = a < 60 ? `${Math.round(a)} s` : a < 3600 ? `${Math.round(a / 60)} min` : a < 86400 ? `${Math.round(a / 3600)} h` : `${Math.round(a / 86400)} d`;
  return d < 0 ? `${v} ago` : `in ${v}`;
}

export const statusLabel = (s: string) => s.replace(/_/g, ' ');
