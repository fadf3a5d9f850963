import type { Integration, Webhook } from '../api/client';
import { Badge, Time } from '../components/ui';
import { useDests } from '../destinations';

/** Destinations lists every webhook and integration. */
export function Destinations({ loading }: { loading: boolean }) {
  const dests = [...useDests().values()];
  const hooks = dests.filter((d) => d.retryPath === 'webhook').sort((a, b) => a.name.localeCompare(b.name));
  const ints = dests.filter((d) => d.retryPath === 'integration').sort((a, b) => a.name.localeCompare(b.name));
  return (
    <main id="main">
      <div class="page-head">
        <h1>Destinations</h1>
      </div>
      <section class="card" aria-labelledby="wh-h">
        <h2 id="wh-h">Webhooks ({hooks.length})</h2>
        {hooks.length === 0 ? (
          <p class="empty">{loading ? 'Loading…' : 'No webhooks.'}</p>
        ) : (
          <div class="table-wrap">
            <table id="webhooks">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Status</th>
                  <th scope="col">URL</th>
                  <th scope="col">Event types</th>
                  <th scope="col">Last triggered</th>
                </tr>
              </thead>
              <tbody>
                {hooks.map((d) => {
                  const w = d.raw as Webhook;
                  return (
                    <tr key={d.id}>
                      <th scope="row">
                        <a href={d.href}>{d.name}</a>
                      </th>
                      <td>
                        <Badge status={w.status} />
                      </td>
                      <td class="url">{w.url}</td>
                      <td>{(w.event_types ?? []).join(', ')}</td>
                      <td>
                        <Time at={w.last_triggered_at} />
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </section>
      <section class="card" aria-labelledby="int-h">
        <h2 id="int-h">Integrations ({ints.length})</h2>
        {ints.length === 0 ? (
          <p class="empty">{loading ? 'Loading…' : 'No integrations.'}</p>
        ) : (
          <div class="table-wrap">
            <table id="integrations">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Type</th>
                  <th scope="col">Status</th>
                  <th scope="col">Event types</th>
                  <th scope="col">Last triggered</th>
                </tr>
              </thead>
              <tbody>
                {ints.map((d) => {
                  const n = d.raw as Integration;
                  return (
                    <tr key={d.id}>
                      <th scope="row">
                        <a href={d.href}>{d.name}</a>
                      </th>
                      <td>{n.integration_type}</td>
                      <td>
                        <Badge status={n.status} />
                      </td>
                      <td>{(n.event_subscriptions ?? []).join(', ')}</td>
                      <td>
                        <Time at={n.last_triggered_at} />
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </main>
  );
}
