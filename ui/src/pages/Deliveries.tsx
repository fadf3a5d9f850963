import { useState } from 'preact/hooks';
import { api, attemptsOf, DELIVERY_STATUSES, must, type Attempt, type Delivery, type DeliveryStatus } from '../api/client';
import { Badge, ErrorNote, Time, Updated } from '../components/ui';
import { getDelivery, type Dest } from '../destinations';
import { fmtAgo, fmtMS, statusLabel } from '../format';
import { usePoll } from '../poll';

type Target = Pick<Dest, 'id' | 'name' | 'retryPath'>;

const PAGE = 25;

/** DeliveryList is a destination's deliveries with a status filter and each one's attempts. */
export function DeliveryList({ dest }: { dest: Target }) {
  const [status, setStatus] = useState<DeliveryStatus | ''>('');
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const cursor = cursors[cursors.length - 1];
  const page = usePoll(
    () => {
      const query = { limit: PAGE, cursor, status: status || undefined };
      return dest.retryPath === 'webhook'
        ? must(api.GET('/api/v1/webhooks/{webhook_id}/deliveries', { params: { path: { webhook_id: dest.id }, query } }))
        : must(api.GET('/api/v1/integrations/{name}/deliveries', { params: { path: { name: dest.name }, query } }));
    },
    5_000,
    [dest.id, status, cursor],
  );
  const rows = page.data?.data ?? [];
  return (
    <section class="card" aria-labelledby="deliveries-h" id="deliveries">
      <div class="section-head">
        <h2 id="deliveries-h">Deliveries</h2>
        <label>
          Status{' '}
          <select
            id="delivery-status"
            value={status}
            onChange={(e) => {
              setStatus((e.target as HTMLSelectElement).value as DeliveryStatus | '');
              setCursors([undefined]);
            }}
          >
            <option value="">All</option>
            {DELIVERY_STATUSES.map((s) => (
              <option key={s} value={s}>
                {statusLabel(s)}
              </option>
            ))}
          </select>
        </label>
        <Updated at={page.updatedAt} loading={page.loading} />
      </div>
      <ErrorNote error={page.error} />
      {rows.length === 0 && !page.loading ? <p class="empty">No deliveries{status ? ` with status ${statusLabel(status)}` : ''}.</p> : <DeliveryTable dest={dest} rows={rows} />}
      <nav class="pager" aria-label="Delivery pages">
        <button type="button" disabled={cursors.length === 1} onClick={() => setCursors(cursors.slice(0, -1))}>
          Previous page
        </button>
        <button type="button" disabled={!page.data?.next_cursor} onClick={() => setCursors([...cursors, page.data!.next_cursor])}>
          Next page
        </button>
      </nav>
    </section>
  );
}

function DeliveryTable({ dest, rows }: { dest: Target; rows: Delivery[] }) {
  const [open, setOpen] = useState<string>();
  return (
    <div class="table-wrap">
      <table class="deliveries">
        <thead>
          <tr>
            <th scope="col">Delivery</th>
            <th scope="col">Event type</th>
            <th scope="col">Status</th>
            <th scope="col" class="num">Attempts</th>
            <th scope="col">Last result</th>
            <th scope="col">Created</th>
            <th scope="col">Next attempt</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((d) => (
            <>
              <tr key={d.id} data-delivery={d.id} data-status={d.status}>
                <th scope="row">
                  <button type="button" class="link" aria-expanded={open === d.id} aria-controls={`att-${d.id}`} onClick={() => setOpen(open === d.id ? undefined : d.id)}>
                    <code>{d.id}</code>
                  </button>
                </th>
                <td>{d.event_type}</td>
                <td>
                  <Badge status={d.status} />
                </td>
                <td class="num">{typeof d.attempts === 'number' ? d.attempts : ''}</td>
                <td>
                  {d.last_status_code ? `HTTP ${d.last_status_code}` : ''} {d.last_error_category && <span class="cat">{d.last_error_category}</span>}
                </td>
                <td>
                  <Time at={d.created_at} />
                </td>
                <td>{d.next_attempt_at ? <span title={d.next_attempt_at}>{fmtAgo(d.next_attempt_at)}</span> : '–'}</td>
              </tr>
              {open === d.id && (
                <tr key={`${d.id}-att`} class="attempts-row">
                  <td colSpan={7} id={`att-${d.id}`}>
                    <Attempts dest={dest} id={d.id} />
                  </td>
                </tr>
              )}
            </>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function Attempts({ dest, id }: { dest: Target; id: string }) {
  const d = usePoll(() => getDelivery(dest, id), 5_000, [dest.id, id]);
  if (d.error) return <ErrorNote error={d.error} />;
  if (!d.data) return <p>Loading attempts…</p>;
  const atts = attemptsOf(d.data);
  return (
    <div class="attempts" aria-label={`Attempts of ${id}`}>
      <p>
        Event <code>{d.data.event_id}</code> · status <Badge status={d.data.status} />
        {d.data.next_attempt_at && (
          <>
            {' '}
            · next attempt <Time at={d.data.next_attempt_at} /> ({fmtAgo(d.data.next_attempt_at)})
          </>
        )}
        {d.data.delivered_at && (
          <>
            {' '}
            · delivered <Time at={d.data.delivered_at} />
          </>
        )}
      </p>
      {atts.length === 0 && <p class="empty">No attempt yet.</p>}
      <ol>
        {atts.map((a) => (
          <AttemptView key={a.attempt} a={a} />
        ))}
      </ol>
    </div>
  );
}

function AttemptView({ a }: { a: Attempt }) {
  return (
    <li class="attempt">
      <h4>
        Attempt {a.attempt}: <Badge status={a.status} /> {a.status_code ? `HTTP ${a.status_code}` : 'no response'} in {fmtMS(a.duration_ms)} · <Time at={a.attempted_at} />
      </h4>
      <dl class="kv">
        {a.error_category && (
          <>
            <dt>Error category</dt>
            <dd>
              <span class="cat">{a.error_category}</span> {a.error_detail}
            </dd>
          </>
        )}
        <dt>Next attempt</dt>
        <dd>{a.next_attempt_at ? <Time at={a.next_attempt_at} /> : 'none'}</dd>
      </dl>
      <div class="headers">
        <Headers title="Request headers" h={a.request_headers} />
        <Headers title="Response headers" h={a.response_headers} />
      </div>
      <h5>Response body{a.truncated ? ' (truncated)' : ''}</h5>
      <pre class="body">{a.response_body || '(empty)'}</pre>
    </li>
  );
}

function Headers({ title, h }: { title: string; h: Record<string, string> }) {
  const keys = Object.keys(h ?? {}).sort();
  return (
    <div>
      <h5>{title}</h5>
      {keys.length === 0 ? (
        <p class="empty">none</p>
      ) : (
        <dl class="kv headers-list">
          {keys.map((k) => (
            <>
              <dt>{k}</dt>
              <dd>{h[k]}</dd>
            </>
          ))}
        </dl>
      )}
    </div>
  );
}
