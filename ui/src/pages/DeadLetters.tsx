import { useState } from 'preact/hooks';
import { api, must, type Delivery } from '../api/client';
import { Confirm } from '../components/Confirm';
import { Badge, ErrorNote, Time, Updated } from '../components/ui';
import { getDelivery, retry, useDests, type Dest } from '../destinations';
import { fmtInt } from '../format';
import { usePoll } from '../poll';
import { Attempts } from './Deliveries';

const PAGE = 50;

interface Filters {
  destination: string;
  eventType: string;
  since: string; // datetime-local value, local time
  until: string;
}

const iso = (local: string) => (local ? new Date(local).toISOString() : undefined);

interface Tracked {
  id: string;
  dest: Dest;
}

/** DeadLetters lists permanent failures across destinations and redrives them. */
export function DeadLetters() {
  const dests = useDests();
  const [f, setF] = useState<Filters>({ destination: '', eventType: '', since: '', until: '' });
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [result, setResult] = useState<string>();
  const [tracked, setTracked] = useState<Tracked[]>([]);
  const cursor = cursors[cursors.length - 1];
  const types = usePoll(() => must(api.GET('/api/v1/event-types')), 60_000, []);

  const page = usePoll(
    () =>
      must(
        api.GET('/api/v1/deliveries', {
          params: {
            query: {
              status: 'permanent_failure',
              destination_id: f.destination || undefined,
              event_type: f.eventType || undefined,
              since: iso(f.since),
              until: iso(f.until),
              limit: PAGE,
              cursor,
            },
          },
        }),
      ),
    5_000,
    [f.destination, f.eventType, f.since, f.until, cursor],
  );
  const rows = page.data?.data ?? [];
  const set = (p: Partial<Filters>) => {
    setF({ ...f, ...p });
    setCursors([undefined]);
    setSelected(new Set());
  };
  const track = (ds: Delivery[]) => {
    const add = ds.flatMap((d) => (dests.get(d.destination_id) ? [{ id: d.id, dest: dests.get(d.destination_id)! }] : []));
    setTracked((t) => [...add, ...t.filter((x) => !add.some((a) => a.id === x.id))].slice(0, 50));
  };

  // The API redrives chosen deliveries by id, per destination, up to 100
  // ids a call.
  const redriveRows = async (ds: Delivery[]) => {
    const byDest = new Map<string, Delivery[]>();
    for (const d of ds) byDest.set(d.destination_id, [...(byDest.get(d.destination_id) ?? []), d]);
    let n = 0;
    for (const [id, group] of byDest) {
      const dest = dests.get(id);
      if (!dest) throw new Error(`unknown destination ${id}`);
      for (let i = 0; i < group.length; i += 100) {
        n += await retry(dest, { status: 'permanent_failure', delivery_ids: group.slice(i, i + 100).map((d) => d.id) });
      }
    }
    track(ds);
    const skipped = ds.length - n;
    const note = skipped > 0 ? ` (${skipped} had already left the dead letters)` : '';
    setResult(`Redriven ${fmtInt(n)} ${n === 1 ? 'delivery' : 'deliveries'}${note}. Their progress is shown below.`);
    setSelected(new Set());
    await page.refresh();
  };
  const redriveAll = async () => {
    const targets: Dest[] = f.destination ? [dests.get(f.destination)!].filter(Boolean) : [...dests.values()];
    let n = 0;
    for (let i = 0; i < targets.length; i += 4) {
      const got = await Promise.all(
        targets.slice(i, i + 4).map((d) => retry(d, { status: 'permanent_failure', event_type: f.eventType || undefined, since: iso(f.since), until: iso(f.until) })),
      );
      n += got.reduce((a, b) => a + b, 0);
    }
    track(rows);
    setResult(`Redriven ${fmtInt(n)} ${n === 1 ? 'delivery' : 'deliveries'} across ${targets.length} ${targets.length === 1 ? 'destination' : 'destinations'}. Those that were on this page are followed below.`);
    setSelected(new Set());
    await page.refresh();
  };
  const chosen = rows.filter((r) => selected.has(r.id));
  const allOnPage = rows.length > 0 && rows.every((r) => selected.has(r.id));
  const sortedDests = [...dests.values()].sort((a, b) => a.name.localeCompare(b.name));

  return (
    <main id="main">
      <div class="page-head">
        <h1>Dead letters</h1>
        <span class="muted">Deliveries that used every retry (status permanent failure), across all destinations.</span>
        <Updated at={page.updatedAt} loading={page.loading} />
      </div>
      <form class="filters card" aria-label="Filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          Destination
          <select id="dl-destination" value={f.destination} onChange={(e) => set({ destination: (e.target as HTMLSelectElement).value })}>
            <option value="">All destinations</option>
            {sortedDests.map((d) => (
              <option key={d.id} value={d.id}>
                {d.name} ({d.kind})
              </option>
            ))}
          </select>
        </label>
        <label>
          Event type
          <select id="dl-event-type" value={f.eventType} onChange={(e) => set({ eventType: (e.target as HTMLSelectElement).value })}>
            <option value="">All event types</option>
            {(types.data?.data ?? []).map((t) => (
              <option key={t.name} value={t.name}>
                {t.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Created since
          <input id="dl-since" type="datetime-local" value={f.since} onChange={(e) => set({ since: (e.target as HTMLInputElement).value })} />
        </label>
        <label>
          Created before
          <input id="dl-until" type="datetime-local" value={f.until} onChange={(e) => set({ until: (e.target as HTMLInputElement).value })} />
        </label>
        <button type="button" onClick={() => set({ destination: '', eventType: '', since: '', until: '' })}>
          Clear filters
        </button>
      </form>
      <ErrorNote error={page.error} />
      {result && (
        <p class="alert ok" role="status" id="redrive-result">
          {result}
        </p>
      )}
      <div class="actions" role="group" aria-label="Redrive">
        <Confirm
          label={`Redrive selected (${chosen.length})`}
          title={`Redrive ${chosen.length} selected ${chosen.length === 1 ? 'delivery' : 'deliveries'}?`}
          confirmLabel="Redrive selected"
          disabled={chosen.length === 0}
          onConfirm={() => redriveRows(chosen)}
        >
          <p>Each gets a new attempt with a fresh retry budget.</p>
        </Confirm>
        <Confirm
          label="Redrive all matching"
          title="Redrive every dead letter that matches the filters?"
          confirmLabel="Redrive all matching"
          danger
          disabled={rows.length === 0}
          onConfirm={redriveAll}
        >
          <p>
            Every permanent failure {f.destination ? `of ${dests.get(f.destination)?.name ?? f.destination}` : 'of every destination'}
            {f.eventType ? ` with event type ${f.eventType}` : ''} matching the time filters gets a new attempt, also those on other pages.
          </p>
        </Confirm>
      </div>
      {rows.length === 0 && !page.loading ? (
        <p class="empty card">No dead letters match.</p>
      ) : (
        <div class="table-wrap card">
          <table id="dead-letters">
            <thead>
              <tr>
                <th scope="col">
                  <input
                    type="checkbox"
                    aria-label="Select every dead letter on this page"
                    checked={allOnPage}
                    onChange={() => setSelected(allOnPage ? new Set() : new Set(rows.map((r) => r.id)))}
                  />
                </th>
                <th scope="col">Delivery</th>
                <th scope="col">Destination</th>
                <th scope="col">Event type</th>
                <th scope="col" class="num">Attempts</th>
                <th scope="col">Last error</th>
                <th scope="col">Created</th>
                <th scope="col">
                  <span class="sr-only">Action</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map((d) => {
                const dest = dests.get(d.destination_id);
                return (
                  <tr key={d.id} data-delivery={d.id}>
                    <td>
                      <input
                        type="checkbox"
                        aria-label={`Select ${d.id}`}
                        checked={selected.has(d.id)}
                        onChange={() => {
                          const s = new Set(selected);
                          if (s.has(d.id)) s.delete(d.id);
                          else s.add(d.id);
                          setSelected(s);
                        }}
                      />
                    </td>
                    <th scope="row">
                      <code>{d.id}</code>
                    </th>
                    <td>{dest ? <a href={dest.href}>{dest.name}</a> : <code>{d.destination_id}</code>}</td>
                    <td>{d.event_type}</td>
                    <td class="num">{typeof d.attempts === 'number' ? d.attempts : ''}</td>
                    <td>
                      {d.last_status_code ? `HTTP ${d.last_status_code} ` : ''}
                      <span class="cat">{d.last_error_category}</span> <span class="detail">{d.last_error_detail}</span>
                    </td>
                    <td>
                      <Time at={d.created_at} />
                    </td>
                    <td>
                      <Confirm label="Redrive" title={`Redrive ${d.id}?`} confirmLabel="Redrive" disabled={!dest} buttonClass="small" onConfirm={() => redriveRows([d])}>
                        <p>
                          A new attempt is made for this delivery of <strong>{d.event_type}</strong> to <strong>{dest?.name}</strong>, with a fresh retry budget.
                        </p>
                      </Confirm>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      <nav class="pager" aria-label="Dead letter pages">
        <button type="button" disabled={cursors.length === 1} onClick={() => setCursors(cursors.slice(0, -1))}>
          Previous page
        </button>
        <button type="button" disabled={!page.data?.next_cursor} onClick={() => setCursors([...cursors, page.data!.next_cursor])}>
          Next page
        </button>
      </nav>
      {tracked.length > 0 && <Redriven items={tracked} />}
    </main>
  );
}

/** Redriven follows redriven deliveries until they are delivered (or fail again). */
function Redriven({ items }: { items: Tracked[] }) {
  const [open, setOpen] = useState<string>();
  const states = usePoll(
    () => Promise.all(items.map((t) => getDelivery(t.dest, t.id).then((d) => ({ t, d }), (e: Error) => ({ t, d: undefined, e })))),
    2_000,
    [items.map((t) => t.id).join(',')],
  );
  const done = (states.data ?? []).filter((s) => s.d?.status === 'delivered').length;
  return (
    <section class="card" aria-labelledby="redriven-h" id="redriven">
      <h2 id="redriven-h">Redriven deliveries</h2>
      <p aria-live="polite" id="redriven-summary">
        {fmtInt(done)} of {fmtInt(items.length)} delivered.
      </p>
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Delivery</th>
              <th scope="col">Destination</th>
              <th scope="col">Status</th>
              <th scope="col">Delivered</th>
            </tr>
          </thead>
          <tbody>
            {(states.data ?? items.map((t) => ({ t, d: undefined }))).map(({ t, d }) => (
              <>
                <tr key={t.id} data-delivery={t.id} data-status={d?.status ?? ''}>
                  <th scope="row">
                    <button type="button" class="link" aria-expanded={open === t.id} onClick={() => setOpen(open === t.id ? undefined : t.id)}>
                      <code>{t.id}</code>
                    </button>
                  </th>
                  <td>
                    <a href={t.dest.href}>{t.dest.name}</a>
                  </td>
                  <td>{d ? <Badge status={d.status} /> : '…'}</td>
                  <td>
                    <Time at={d?.delivered_at} />
                  </td>
                </tr>
                {open === t.id && (
                  <tr key={`${t.id}-att`} class="attempts-row">
                    <td colSpan={4}>
                      <Attempts dest={t.dest} id={t.id} />
                    </td>
                  </tr>
                )}
              </>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
