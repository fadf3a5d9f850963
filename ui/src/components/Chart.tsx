// A uPlot chart with its own legend and the same numbers as a table, so
// the chart is not the only way to read them (screen readers, copying).
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface ChartSeries {
  label: string;
  color: string;
  values: (number | null)[];
}

export interface ChartProps {
  id: string;
  title: string;
  /** x: period starts, unix seconds. */
  x: number[];
  series: ChartSeries[];
  format: (v: number) => string;
  /** stacked draws bars stacked in series order (first at the bottom). */
  stacked?: boolean;
  /** yMax fixes the top of the y axis (100 for percentages). */
  yMax?: number;
  /** integer keeps y ticks on whole numbers (counts). */
  integer?: boolean;
  note?: string;
  height?: number;
}

const fmtX = (ts: number, span: number) => {
  const d = new Date(ts * 1000);
  return span > 2 * 86400 ? d.toLocaleDateString('en-GB', { month: 'short', day: 'numeric' }) : d.toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' });
};

export function Chart({ id, title, x, series, format, stacked, yMax, integer, note, height = 200 }: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);
  const points = series.reduce((n, s) => n + s.values.filter((v) => v != null && v !== 0).length, 0);

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    // Stacked bars: each series is drawn as the running total up to it,
    // tallest first, so the smaller totals paint over it.
    const sums = series.map((_, i) => x.map((_, j) => (stacked ? series.slice(0, i + 1).reduce((a, s) => a + (s.values[j] ?? 0), 0) : series[i].values[j])));
    const order = stacked ? series.map((_, i) => series.length - 1 - i) : series.map((_, i) => i);
    const span = x.length > 1 ? x[x.length - 1] - x[0] : 3600;
    // Points and bars sit in the middle of their period, with half a
    // period of room at either end, so a lone point is not cut in half.
    const period = x.length > 1 ? x[1] - x[0] : 3600;
    const barPaths = uPlot.paths.bars!({ size: [0.7, 48], align: 0 });
    const opts: uPlot.Options = {
      width: Math.max(el.clientWidth, 200),
      height,
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { size: 6 } },
      scales: {
        x: { time: true, range: (_u, min, max) => [min - period / 2, max + period / 2] },
        y: { range: (_u, _min, max) => [0, yMax ?? Math.max(max * 1.1, 1)] },
      },
      axes: [
        { stroke: '#3d4451', grid: { stroke: '#e3e6ea' }, ticks: { stroke: '#c9ced6' }, values: (_u, ts) => ts.map((t) => fmtX(t, span)) },
        {
          stroke: '#3d4451',
          grid: { stroke: '#e3e6ea' },
          ticks: { stroke: '#c9ced6' },
          size: 64,
          incrs: integer ? [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6] : undefined,
          values: (_u, vs) => vs.map((v) => format(v)),
        },
      ],
      series: [
        {},
        ...order.map((i) => ({
          label: series[i].label,
          stroke: series[i].color,
          width: stacked ? 0 : 2,
          fill: stacked ? series[i].color : undefined,
          paths: stacked ? barPaths : undefined,
          points: { show: !stacked && x.length <= 48, size: 5, fill: series[i].color },
          spanGaps: false,
        })),
      ],
    };
    const data: uPlot.AlignedData = [x.map((t) => t + period / 2), ...order.map((i) => sums[i])];
    plot.current?.destroy();
    plot.current = new uPlot(opts, data, el);
    const ro = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(el.clientWidth, 200), height }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      plot.current?.destroy();
      plot.current = undefined;
    };
  }, [JSON.stringify([x, series.map((s) => [s.label, s.color, s.values]), stacked, yMax, integer, height])]);

  const titleID = `${id}-title`;
  return (
    <figure class="chart" id={id} data-points={points} aria-labelledby={titleID}>
      <figcaption id={titleID}>{title}</figcaption>
      <ul class="legend" aria-label={`${title}: legend`}>
        {series.map((s) => (
          <li key={s.label}>
            <span class="swatch" style={{ background: s.color }} aria-hidden="true" />
            {s.label}
          </li>
        ))}
      </ul>
      <div ref={box} class="plot" role="img" aria-label={points ? `${title}: chart of ${x.length} periods; the table below has the numbers` : `${title}: no data in this range`} />
      {points === 0 && <p class="empty">No data in this range yet.</p>}
      {note && <p class="note">{note}</p>}
      <details>
        <summary>Show as a table</summary>
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Period start</th>
                {series.map((s) => (
                  <th scope="col" key={s.label}>{s.label}</th>
                ))}
              </tr>
            </thead>
            <tbody>
              {x.map((t, j) => (
                <tr key={t}>
                  <th scope="row">{new Date(t * 1000).toLocaleString('en-GB')}</th>
                  {series.map((s) => (
                    <td key={s.label}>{s.values[j] == null ? '–' : format(s.values[j]!)}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </details>
    </figure>
  );
}

// Okabe–Ito colours: told apart with the common colour-vision deficiencies.
export const COLORS = {
  blue: '#0072B2',
  orange: '#E69F00',
  green: '#009E73',
  vermillion: '#D55E00',
  purple: '#CC79A7',
  sky: '#56B4E9',
  yellow: '#F0E442',
  grey: '#6b7280',
  black: '#1f2328',
};
