import type { ComponentChildren } from 'preact';
import { fmtTime, statusLabel } from '../format';

export function Badge({ status }: { status: string }) {
  return <span class={`badge s-${status}`}>{statusLabel(status)}</span>;
}

export function ErrorNote({ error }: { error?: Error }) {
  if (!error) return null;
  return (
    <p class="alert error" role="alert">
      {error.message}
    </p>
  );
}

export function Updated({ at, loading }: { at?: Date; loading?: boolean }) {
  return (
    <span class="updated">
      {loading && !at ? 'Loading…' : at ? `Updated ${at.toLocaleTimeString('en-GB')}` : ''}
    </span>
  );
}

export function Tile({ label, value, sub, id }: { label: string; value: ComponentChildren; sub?: ComponentChildren; id?: string }) {
  return (
    <div class="tile" id={id}>
      <div class="tile-label">{label}</div>
      <div class="tile-value">{value}</div>
      {sub && <div class="tile-sub">{sub}</div>}
    </div>
  );
}

export function Time({ at }: { at?: string | null }) {
  if (!at) return <>–</>;
  return <time dateTime={at}>{fmtTime(at)}</time>;
}

/** Pending marks a spot for data the API does not expose yet. */
export function Pending({ title, children }: { title: string; children: ComponentChildren }) {
  return (
    <section class="card pending" aria-label={title}>
      <h3>{title}</h3>
      <p>
        <strong>Not exposed by this server's API yet.</strong> {children}
      </p>
    </section>
  );
}
