import { useEffect, useState } from 'preact/hooks';
import { getJSON, type DestinationStats } from '../api/client';
import { finished, overview, perMinute, periods, RANGES, type RangeName } from '../analytics';
import { Chart, COLORS } from '../components/Chart';
import { ErrorNote, Pending, Tile, Updated } from '../components/ui';
import { getDest, useDests, type Dest } from '../destinations';
import { fmtInt, fmtMS, fmtPct, fmtRate } from '../format';
import { usePoll } from '../poll';
import { hasProperty, lagSources, type LagSource } from '../spec';

export function RangePicker({ value, onChange, options }: { value: RangeName; onChange: (r: RangeName) => void; options?: RangeName[] }) {
  return (
    <fieldset class="segmented">
      <legend class="sr-only">Time range</legend>
      {(options ?? (['hour', 'day', 'week'] as RangeName[])).map((r) => (
        <label key={r} class={value === r ? 'on' : ''}>
          <input type="radio" name="range" value={r} checked={value === r} onChange={() => onChange(r)} />
          {RANGES[r].label}
        </label>
      ))}
    </fieldset>
  );
}

export function Overview() {
  const [range, setRange] = useState<RangeName>('day');
  const summary = usePoll(
    async () => {
      const now = Date.now();
      const o = await overview(new Date(now - RANGES[range].span), new Date(now));
      return { o, now };
    },
    10_000,
    [range],
  );
  const series = usePoll(() => periods(range), 15_000, [range]);
  const o = summary.data?.o;
  const s = o?.summary;
  const x = (series.data ?? []).map((p) => p.start / 1000);
  const note = `One point ${RANGES[range].periodLabel}: the API keeps analytics per UTC hour.`;

  return (
    <main id="main">
      <div class="page-head">
        <h1>Overview</h1>
        <RangePicker value={range} onChange={setRange} />
        <Updated at={summary.updatedAt} loading={summary.loading} />
      </div>
      <ErrorNote error={summary.error ?? series.error} />
      <section class="tiles" aria-label="Summary">
        <Tile id="tile-rate" label="Deliveries per minute" value={o && s ? fmtRate(perMinute(s, Date.parse(o.from), Date.parse(o.to), summary.data!.now)) : '…'} sub={s ? `${fmtInt(s.total_deliveries)} created` : ''} />
        <Tile id="tile-success" label="Success rate" value={s ? (finished(s) ? fmtPct(s.success_rate) : '–') : '…'} sub={s ? `${fmtInt(s.delivered)} delivered` : ''} />
        <Tile id="tile-p95" label="p95 latency" value={s ? (s.response_count ? fmtMS(s.p95_response_ms) : '–') : '…'} sub={s ? `${fmtInt(s.response_count)} responses` : ''} />
        <Tile id="tile-p99" label="p99 latency" value={s ? (s.response_count ? fmtMS(s.p99_response_ms) : '–') : '…'} />
        <Tile id="tile-dead" label="Dead-lettered in the range" value={s ? fmtInt(s.permanent_failures) : '…'} sub={<a href="#/dead-letters">Open dead letters</a>} />
        <Tile label="Active destinations" value={o ? fmtInt(o.destinations) : '…'} sub="with activity in the range" />
      </section>
      <div class="charts">
        <Chart
          id="chart-deliveries"
          title="Deliveries per minute"
          x={x}
          series={[{ label: 'Deliveries created per minute', color: COLORS.blue, values: (series.data ?? []).map((p) => perMinute(p.stats, p.start, p.end)) }]}
          format={(v) => fmtRate(v)}
          note={note}
        />
        <Chart
          id="chart-success"
          title="Success rate"
          x={x}
          yMax={100}
          series={[{ label: 'Success rate (%)', color: COLORS.green, values: (series.data ?? []).map((p) => (finished(p.stats) ? p.stats.success_rate * 100 : null)) }]}
          format={(v) => `${v.toFixed(v >= 99.95 || v === 0 ? 0 : 1)} %`}
          note={note}
        />
        <Chart
          id="chart-latency"
          title="Latency"
          x={x}
          series={[
            { label: 'p95', color: COLORS.blue, values: (series.data ?? []).map((p) => (p.stats.response_count ? p.stats.p95_response_ms : null)) },
            { label: 'p99', color: COLORS.vermillion, values: (series.data ?? []).map((p) => (p.stats.response_count ? p.stats.p99_response_ms : null)) },
          ]}
          format={fmtMS}
          note={note}
        />
      </div>
      <div class="columns">
        <TopTable id="top-failing" title="Top failing destinations" rows={o?.top_by_failures ?? []} empty="No failed attempts in this range." />
        <TopTable id="top-slowest" title="Slowest destinations (p99)" rows={o?.top_by_p99 ?? []} empty="No responses in this range." />
      </div>
      <Operations top={o?.top_by_failures ?? []} />
    </main>
  );
}

function TopTable({ id, title, rows, empty }: { id: string; title: string; rows: DestinationStats[]; empty: string }) {
  const dests = useDests();
  return (
    <section class="card" aria-labelledby={`${id}-h`} id={id}>
      <h2 id={`${id}-h`}>{title}</h2>
      {rows.length === 0 ? (
        <p class="empty">{empty}</p>
      ) : (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Destination</th>
                <th scope="col">Kind</th>
                <th scope="col" class="num">Failed attempts</th>
                <th scope="col" class="num">Dead letters</th>
                <th scope="col" class="num">Success</th>
                <th scope="col" class="num">p99</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => {
                const d = dests.get(r.destination_id);
                return (
                  <tr key={r.destination_id}>
                    <th scope="row">{d ? <a href={d.href}>{d.name}</a> : <code>{r.destination_id}</code>}</th>
                    <td>{r.kind}</td>
                    <td class="num">{fmtInt(r.failed_attempts)}</td>
                    <td class="num">{fmtInt(r.permanent_failures)}</td>
                    <td class="num">{finished(r) ? fmtPct(r.success_rate) : '–'}</td>
                    <td class="num">{r.response_count ? fmtMS(r.p99_response_ms) : '–'}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

/** fmtLag shows a lag field: seconds as a duration, counts as numbers. */
function fmtLag(field: string, value: unknown): string {
  if (typeof value !== 'number') return String(value ?? '–');
  return /seconds$/.test(field) ? fmtMS(value * 1000) : fmtInt(value);
}

interface Breaker {
  state: string;
  reason?: string;
  next_probe_at?: string;
}

/**
 * Operations shows outbox lag and open circuit breakers when the served
 * API exposes them, and marks their place otherwise.
 */
function Operations({ top }: { top: DestinationStats[] }) {
  const dests = useDests();
  const [caps, setCaps] = useState<{ breakers: boolean; lag: LagSource[] } | undefined>();
  useEffect(() => {
    void Promise.all([hasProperty('Webhook', 'circuit_breaker'), hasProperty('Integration', 'circuit_breaker'), lagSources()]).then(([w, i, lag]) =>
      setCaps({ breakers: w || i, lag }),
    );
  }, []);
  const topIDs = top.map((t) => t.destination_id).join(',');
  const breakers = usePoll(
    async () => {
      if (!caps?.breakers) return [];
      // List answers may carry breakers; otherwise ask for the destinations
      // most likely to have one open: the top failing ones.
      const seen = new Map<string, { dest: Dest; b: Breaker }>();
      for (const d of dests.values()) {
        const b = (d.raw as { circuit_breaker?: Breaker }).circuit_breaker;
        if (b) seen.set(d.id, { dest: d, b });
      }
      for (const id of topIDs.split(',').filter(Boolean)) {
        const d = dests.get(id);
        if (!d || seen.has(id)) continue;
        const full = (await getDest(d).catch(() => undefined)) as { circuit_breaker?: Breaker } | undefined;
        if (full?.circuit_breaker) seen.set(id, { dest: d, b: full.circuit_breaker });
      }
      return [...seen.values()].filter((x) => x.b.state !== 'closed');
    },
    15_000,
    [caps?.breakers, topIDs, dests],
  );
  const lag = usePoll(
    async () => {
      const out: { field: string; value: unknown }[] = [];
      for (const src of caps?.lag ?? []) {
        const body = (await getJSON(src.path)) as Record<string, unknown>;
        for (const f of src.fields) out.push({ field: f, value: body[f] });
      }
      return out;
    },
    10_000,
    [caps?.lag.map((l) => l.path).join(',')],
  );
  if (!caps) return null;
  return (
    <div class="columns">
      {caps.lag.length ? (
        <section class="card" aria-labelledby="lag-h" id="outbox-lag">
          <h2 id="lag-h">Outbox lag</h2>
          <dl class="kv">
            {(lag.data ?? []).map((l) => (
              <>
                <dt>{l.field.replace(/_/g, ' ')}</dt>
                <dd>{fmtLag(l.field, l.value)}</dd>
              </>
            ))}
          </dl>
        </section>
      ) : (
        <Pending title="Outbox lag">The panel appears when the API answers with outbox lag fields.</Pending>
      )}
      {caps.breakers ? (
        <section class="card" aria-labelledby="breakers-h" id="breakers">
          <h2 id="breakers-h">Open circuit breakers</h2>
          {(breakers.data ?? []).length === 0 ? (
            <p class="empty">None open among the destinations checked.</p>
          ) : (
            <ul class="plain">
              {breakers.data!.map(({ dest, b }) => (
                <li key={dest.id}>
                  <a href={dest.href}>{dest.name}</a> — <span class={`badge s-${b.state}`}>{b.state.replace('_', ' ')}</span> {b.reason}
                </li>
              ))}
            </ul>
          )}
        </section>
      ) : (
        <Pending title="Open circuit breakers">The panel appears when webhooks and integrations carry a circuit_breaker field.</Pending>
      )}
    </div>
  );
}
