import { useState } from 'preact/hooks';
import { api, ApiError, etag, must, type HistoryEntry, type Integration, type Webhook } from '../api/client';
import { RANGES, type RangeName } from '../analytics';
import { Chart, COLORS } from '../components/Chart';
import { Confirm } from '../components/Confirm';
import { Badge, ErrorNote, Tile, Time, Updated } from '../components/ui';
import { getDest, type Dest } from '../destinations';
import { fmtInt, fmtMS, fmtPct } from '../format';
import { usePoll } from '../poll';
import { DeliveryList } from './Deliveries';
import { RangePicker } from './Overview';

type Target = Pick<Dest, 'id' | 'name' | 'retryPath'>;

/** Destination is the page of one webhook (by id) or integration (by name). */
export function Destination({ webhookID, integrationName }: { webhookID?: string; integrationName?: string }) {
  const target: Target = webhookID ? { id: webhookID, name: '', retryPath: 'webhook' } : { id: '', name: integrationName!, retryPath: 'integration' };
  const d = usePoll(() => getDest(target), 5_000, [webhookID, integrationName]);
  const [message, setMessage] = useState<{ text: string; error?: boolean }>();
  const [secret, setSecret] = useState<string>();

  if (d.error && !d.data) {
    return (
      <main id="main">
        <h1>{webhookID ?? integrationName}</h1>
        <ErrorNote error={d.error} />
        <p>
          <a href="#/destinations">All destinations</a>
        </p>
      </main>
    );
  }
  if (!d.data) return <main id="main" aria-busy="true"><p>Loading…</p></main>;

  const isWebhook = target.retryPath === 'webhook';
  const w = d.data as Webhook;
  const n = d.data as Integration;
  const dest: Target = { id: d.data.id, name: d.data.name, retryPath: target.retryPath };
  const kind = isWebhook ? 'webhook' : n.integration_type;
  const paused = d.data.status === 'paused';

  // A command names the version it was decided on (If-Match): a change made
  // meanwhile by someone else is refused (412) instead of overwritten.
  const act = async (what: string, call: () => Promise<unknown>) => {
    try {
      await call();
      setMessage({ text: what });
    } catch (e) {
      if (e instanceof ApiError && e.status === 412) {
        await d.refresh();
        throw new ApiError(412, 'It was changed meanwhile; the page now shows the current version. Check it and try again.');
      }
      throw e;
    }
    await d.refresh();
  };
  const hdr = { 'If-Match': etag(d.data.version) };
  const pause = () =>
    act(`Paused ${d.data!.name}: new deliveries wait until it is resumed.`, () =>
      isWebhook
        ? must(api.POST('/api/v1/webhooks/{webhook_id}/pause', { params: { path: { webhook_id: w.id }, header: hdr } }))
        : must(api.POST('/api/v1/integrations/{name}/pause', { params: { path: { name: n.name }, header: hdr } })),
    );
  const resume = () =>
    act(`Resumed ${d.data!.name}: held deliveries are released.`, () =>
      isWebhook
        ? must(api.POST('/api/v1/webhooks/{webhook_id}/resume', { params: { path: { webhook_id: w.id }, header: hdr } }))
        : must(api.POST('/api/v1/integrations/{name}/resume', { params: { path: { name: n.name }, header: hdr } })),
    );
  const test = async () => {
    const r = isWebhook
      ? await must(api.POST('/api/v1/webhooks/{webhook_id}/test', { params: { path: { webhook_id: w.id } } }))
      : await must(api.POST('/api/v1/integrations/{name}/test', { params: { path: { name: n.name } } }));
    setMessage(
      r.success
        ? { text: `Test event delivered: HTTP ${r.status_code} in ${fmtMS(r.latency_ms)}.` }
        : { text: `Test event failed: ${r.error_category || 'error'} ${r.status_code ? `HTTP ${r.status_code}` : ''} ${r.error_detail}`.trim(), error: true },
    );
  };

  return (
    <main id="main">
      <div class="page-head">
        <h1>
          {d.data.name} <Badge status={d.data.status} />
        </h1>
        <span class="muted">
          {kind} · <code>{d.data.id}</code>
        </span>
        <Updated at={d.updatedAt} />
      </div>
      <ErrorNote error={d.error} />
      {message && (
        <p class={`alert ${message.error ? 'error' : 'ok'}`} role="status" id="action-result">
          {message.text}
        </p>
      )}
      <div class="actions" role="group" aria-label="Actions">
        {paused ? (
          <Confirm label="Resume" title={`Resume ${d.data.name}?`} confirmLabel={`Resume ${kind}`} onConfirm={resume}>
            <p>Deliveries held while it was paused are sent again, and new events are delivered.</p>
          </Confirm>
        ) : (
          <Confirm label="Pause" title={`Pause ${d.data.name}?`} confirmLabel={`Pause ${kind}`} danger disabled={d.data.status !== 'active'} onConfirm={pause}>
            <p>New and retried deliveries are held, not lost, until you resume it.</p>
          </Confirm>
        )}
        {isWebhook && <RotateSecret w={w} onRotated={async (s) => { setSecret(s); await d.refresh(); }} />}
        <Confirm label="Send test event" title={`Send a test event to ${d.data.name}?`} confirmLabel="Send test event" onConfirm={test}>
          <p>A signed test event is sent now and its outcome shown; it is not retried and not recorded as a delivery.</p>
        </Confirm>
      </div>
      {secret && <SecretOnce secret={secret} onDone={() => setSecret(undefined)} />}
      <Breaker value={(d.data as { circuit_breaker?: BreakerValue }).circuit_breaker} />
      <DestinationAnalytics dest={dest} />
      <DeliveryList dest={dest} />
      <div class="columns">
        <Config value={d.data} />
        {isWebhook ? (
          <History id={w.id} />
        ) : (
          <section class="card" aria-labelledby="history-h">
            <h2 id="history-h">Change history</h2>
            <p class="empty">The API keeps a change history for webhooks only.</p>
          </section>
        )}
      </div>
    </main>
  );
}

function RotateSecret({ w, onRotated }: { w: Webhook; onRotated: (secret: string) => Promise<void> }) {
  const [grace, setGrace] = useState('86400');
  return (
    <Confirm
      label="Rotate secret"
      title={`Rotate the signing secret of ${w.name}?`}
      confirmLabel="Rotate secret"
      danger
      onConfirm={async () => {
        const g = Number(grace);
        const r = await must(
          api.POST('/api/v1/webhooks/{webhook_id}/rotate-secret', {
            params: { path: { webhook_id: w.id }, header: { 'If-Match': etag(w.version) } },
            body: { grace_period_seconds: Number.isFinite(g) ? g : undefined },
          }),
        );
        await onRotated(r.secret ?? '');
      }}
    >
      <p>A new secret is generated. Deliveries are signed with both until the grace period ends; the receiver must switch to the new one before then.</p>
      <label for="grace">Old secret keeps signing for (seconds, at most 604800)</label>
      <input id="grace" type="number" min={0} max={604800} value={grace} onInput={(e) => setGrace((e.target as HTMLInputElement).value)} />
    </Confirm>
  );
}

/** SecretOnce shows a new signing secret, the only time the API returns it. */
function SecretOnce({ secret, onDone }: { secret: string; onDone: () => void }) {
  const [copied, setCopied] = useState('');
  return (
    <section class="card secret" aria-labelledby="secret-h" id="new-secret">
      <h2 id="secret-h">New signing secret</h2>
      <p class="alert warn" role="alert">
        Copy it now: it is shown only this once and cannot be read again. Anyone holding it can sign requests as this webhook.
      </p>
      <div class="secret-row">
        <label for="secret-value" class="sr-only">
          New signing secret
        </label>
        <input id="secret-value" readOnly value={secret} onFocus={(e) => (e.target as HTMLInputElement).select()} />
        <button
          type="button"
          onClick={async () => {
            try {
              await navigator.clipboard.writeText(secret);
              setCopied('Copied to the clipboard.');
            } catch {
              setCopied('The browser refused the clipboard: select the field and copy it yourself.');
            }
          }}
        >
          Copy
        </button>
        <button type="button" onClick={onDone}>
          I have stored it
        </button>
      </div>
      <p role="status">{copied}</p>
    </section>
  );
}

interface BreakerValue {
  state: string;
  reason?: string;
  since?: string;
  next_probe_at?: string;
  failure_rate?: number;
  attempts?: number;
  failures?: number;
}

function Breaker({ value }: { value?: BreakerValue }) {
  if (!value) return null;
  return (
    <section class="card" aria-labelledby="breaker-h" id="breaker">
      <h2 id="breaker-h">
        Circuit breaker <span class={`badge s-${value.state}`}>{value.state.replace('_', ' ')}</span>
      </h2>
      <dl class="kv">
        {value.reason && (
          <>
            <dt>Reason</dt>
            <dd>{value.reason}</dd>
          </>
        )}
        {value.since && (
          <>
            <dt>Since</dt>
            <dd>
              <Time at={value.since} />
            </dd>
          </>
        )}
        {value.next_probe_at && (
          <>
            <dt>Next probe</dt>
            <dd>
              <Time at={value.next_probe_at} />
            </dd>
          </>
        )}
        {value.failure_rate != null && (
          <>
            <dt>Failures when it opened</dt>
            <dd>
              {value.failures ?? '?'} of {value.attempts ?? '?'} ({fmtPct(value.failure_rate, 0)})
            </dd>
          </>
        )}
      </dl>
    </section>
  );
}

// Fields shown elsewhere on the page, or never: a secret the API might one
// day return by mistake is not displayed.
const HIDDEN = new Set(['secret', 'credentials', 'circuit_breaker', 'name', 'status', 'id', 'version']);

function Config({ value }: { value: Webhook | Integration }) {
  const entries = Object.entries(value).filter(([k]) => !HIDDEN.has(k));
  return (
    <section class="card" aria-labelledby="config-h" id="config">
      <h2 id="config-h">Configuration</h2>
      <p class="muted">The signing secret and credentials are never shown: the API returns a secret only when it is created or rotated.</p>
      <dl class="kv config">
        {entries.map(([k, v]) => (
          <>
            <dt>{k.replace(/_/g, ' ')}</dt>
            <dd>
              <Value k={k} v={v} />
            </dd>
          </>
        ))}
      </dl>
    </section>
  );
}

function Value({ k, v }: { k: string; v: unknown }) {
  if (v == null || v === '') return <>–</>;
  if (typeof v === 'string' && /_at$/.test(k)) return <Time at={v} />;
  if (Array.isArray(v)) {
    if (v.every((x) => typeof x !== 'object')) return <>{v.length ? v.join(', ') : '–'}</>;
    if (k === 'retry_schedule_preview') {
      return (
        <ol class="schedule">
          {(v as { retry: number; delay_seconds: number; after_seconds: number }[]).map((r) => (
            <li key={r.retry}>
              retry {r.retry}: after {fmtSecs(r.delay_seconds)} (at {fmtSecs(r.after_seconds)})
            </li>
          ))}
        </ol>
      );
    }
  }
  if (typeof v === 'object') {
    const e = Object.entries(v as object);
    if (e.length === 0) return <>–</>;
    return (
      <dl class="kv nested">
        {e.map(([kk, vv]) => (
          <>
            <dt>{kk}</dt>
            <dd>{typeof vv === 'object' ? JSON.stringify(vv) : String(vv)}</dd>
          </>
        ))}
      </dl>
    );
  }
  return <>{String(v)}</>;
}

const fmtSecs = (s: number) => (s >= 3600 ? `${(s / 3600).toFixed(1)} h` : s >= 60 ? `${(s / 60).toFixed(1)} min` : `${s.toFixed(s < 10 ? 1 : 0)} s`);

const ERRORS: { key: keyof import('../api/client').Schemas['AnalyticsErrors']; label: string; color: string }[] = [
  { key: '5xx', label: 'HTTP 5xx', color: COLORS.vermillion },
  { key: '4xx', label: 'HTTP 4xx', color: COLORS.orange },
  { key: '3xx', label: 'HTTP 3xx', color: COLORS.yellow },
  { key: 'timeout', label: 'Timeout', color: COLORS.purple },
  { key: 'network', label: 'Network', color: COLORS.blue },
  { key: 'blocked', label: 'Blocked', color: COLORS.black },
  { key: 'other', label: 'Other', color: COLORS.grey },
];

function DestinationAnalytics({ dest }: { dest: Target }) {
  const [range, setRange] = useState<RangeName>('day');
  const a = usePoll(
    () => {
      const now = Date.now();
      const query = { from: new Date(now - RANGES[range].span).toISOString(), to: new Date(now).toISOString(), granularity: range === 'week' ? ('day' as const) : ('hour' as const) };
      return dest.retryPath === 'webhook'
        ? must(api.GET('/api/v1/webhooks/{webhook_id}/analytics', { params: { path: { webhook_id: dest.id }, query } }))
        : must(api.GET('/api/v1/integrations/{name}/analytics', { params: { path: { name: dest.name }, query } }));
    },
    10_000,
    [dest.id, dest.name, range],
  );
  const pts = a.data?.series ?? [];
  const x = pts.map((p) => Date.parse(p.start) / 1000);
  const s = a.data?.summary;
  const latency = (f: (p: (typeof pts)[number]) => number) => pts.map((p) => (p.response_count ? f(p) : null));
  return (
    <section class="card" aria-labelledby="analytics-h" id="analytics">
      <div class="section-head">
        <h2 id="analytics-h">Analytics</h2>
        <RangePicker value={range} onChange={setRange} />
        <Updated at={a.updatedAt} loading={a.loading} />
      </div>
      <ErrorNote error={a.error} />
      <div class="tiles">
        <Tile label="Deliveries" value={s ? fmtInt(s.total_deliveries) : '…'} />
        <Tile label="Success rate" value={s ? (s.delivered + s.failed + s.permanent_failures ? fmtPct(s.success_rate) : '–') : '…'} />
        <Tile id="dest-p50" label="p50 latency" value={s && s.response_count ? fmtMS(s.p50_response_ms) : '–'} />
        <Tile id="dest-p95" label="p95 latency" value={s && s.response_count ? fmtMS(s.p95_response_ms) : '–'} />
        <Tile id="dest-p99" label="p99 latency" value={s && s.response_count ? fmtMS(s.p99_response_ms) : '–'} />
        <Tile label="Failed attempts" value={s ? fmtInt(s.failed_attempts) : '…'} />
        <Tile label="Dead letters" value={s ? fmtInt(s.permanent_failures) : '…'} />
      </div>
      <div class="charts">
        <Chart
          id="chart-dest-latency"
          title="Latency percentiles"
          x={x}
          series={[
            { label: 'p50', color: COLORS.green, values: latency((p) => p.p50_response_ms) },
            { label: 'p95', color: COLORS.blue, values: latency((p) => p.p95_response_ms) },
            { label: 'p99', color: COLORS.vermillion, values: latency((p) => p.p99_response_ms) },
          ]}
          format={fmtMS}
          note={`One point per ${range === 'week' ? 'day' : 'hour'}.`}
        />
        <Chart id="chart-dest-errors" title="Failed attempts by error category" x={x} stacked integer series={ERRORS.map((e) => ({ label: e.label, color: e.color, values: pts.map((p) => p.errors[e.key]) }))} format={(v) => fmtInt(Math.round(v))} />
      </div>
    </section>
  );
}

function History({ id }: { id: string }) {
  const h = usePoll(() => must(api.GET('/api/v1/webhooks/{webhook_id}/history', { params: { path: { webhook_id: id }, query: { limit: 50 } } })), 15_000, [id]);
  const rows: HistoryEntry[] = h.data?.data ?? [];
  return (
    <section class="card" aria-labelledby="history-h" id="history">
      <h2 id="history-h">Change history</h2>
      <ErrorNote error={h.error} />
      {rows.length === 0 ? (
        <p class="empty">{h.loading ? 'Loading…' : 'No changes recorded.'}</p>
      ) : (
        <ol class="history">
          {rows.map((e) => (
            <li key={e.version}>
              <strong>{e.type.replace(/_/g, ' ')}</strong> · v{e.version} · <Time at={e.at} /> {e.actor && <span class="muted">by {e.actor}</span>}
              {e.reason && <div>Reason: {e.reason}</div>}
              {e.previous_secret_expires_at && (
                <div>
                  Previous secret signs until <Time at={e.previous_secret_expires_at} />
                </div>
              )}
              {(e.changes ?? []).length > 0 && (
                <ul class="changes">
                  {e.changes!.map((c) => (
                    <li key={c.field}>
                      <code>{c.field}</code>: {show(c.old)} → {show(c.new)}
                    </li>
                  ))}
                </ul>
              )}
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

const show = (v: unknown) => (v == null ? '∅' : typeof v === 'object' ? JSON.stringify(v) : String(v));
