import { useEffect, useState } from 'preact/hooks';
import { onUnauthorized, session } from './api/client';
import { DestsContext, loadDestinations } from './destinations';
import { LiveContext, usePoll } from './poll';
import { href, useRoute, type Route } from './router';
import { DeadLetters } from './pages/DeadLetters';
import { Destination } from './pages/Destination';
import { Destinations } from './pages/Destinations';
import { Overview } from './pages/Overview';
import { SignIn } from './pages/SignIn';

export function App() {
  const [signedIn, setSignedIn] = useState(() => session.key() !== '');
  const [notice, setNotice] = useState<string>();
  useEffect(
    () =>
      onUnauthorized(() => {
        session.clear();
        setNotice('The server no longer accepts your API key: sign in again.');
        setSignedIn(false);
      }),
    [],
  );
  if (!signedIn) {
    return (
      <>
        <SkipLink />
        <SignIn
          notice={notice}
          onSignedIn={() => {
            setNotice(undefined);
            setSignedIn(true);
          }}
        />
      </>
    );
  }
  return (
    <Shell
      onSignOut={() => {
        session.clear();
        setNotice('Signed out: the key was removed from this tab.');
        setSignedIn(false);
      }}
    />
  );
}

function Shell({ onSignOut }: { onSignOut: () => void }) {
  const route = useRoute();
  const [live, setLive] = useState(true);
  const dests = usePoll(loadDestinations, 15_000, []);
  useEffect(() => {
    document.title = `${title(route)} · lokihooks`;
  }, [route]);
  return (
    <LiveContext.Provider value={live}>
      <DestsContext.Provider value={dests.data ?? new Map()}>
        <SkipLink />
        <header class="top">
          <a class="brand" href={href.overview()}>
            lokihooks
          </a>
          <nav aria-label="Main">
            <ul>
              <NavLink to={href.overview()} current={route.page === 'overview'} label="Overview" />
              <NavLink to={href.destinations()} current={route.page === 'destinations' || route.page === 'webhook' || route.page === 'integration'} label="Destinations" />
              <NavLink to={href.deadLetters()} current={route.page === 'dead-letters'} label="Dead letters" />
              <li>
                <a href="/docs">API docs</a>
              </li>
            </ul>
          </nav>
          <div class="top-right">
            <label class="switch">
              <input type="checkbox" checked={live} onChange={() => setLive(!live)} /> Live updates
            </label>
            <button type="button" onClick={onSignOut}>
              Sign out
            </button>
          </div>
        </header>
        {dests.error && (
          <p class="alert error" role="alert">
            Could not list destinations: {dests.error.message}
          </p>
        )}
        <Page route={route} loading={dests.loading} />
      </DestsContext.Provider>
    </LiveContext.Provider>
  );
}

/** SkipLink moves focus to the page's main content (without touching the hash route). */
function SkipLink() {
  return (
    <a
      class="skip"
      href="#main"
      onClick={(e) => {
        e.preventDefault();
        const m = document.getElementById('main');
        m?.setAttribute('tabindex', '-1');
        m?.focus();
      }}
    >
      Skip to content
    </a>
  );
}

function NavLink({ to, current, label }: { to: string; current: boolean; label: string }) {
  return (
    <li>
      <a href={to} aria-current={current ? 'page' : undefined}>
        {label}
      </a>
    </li>
  );
}

function Page({ route, loading }: { route: Route; loading: boolean }) {
  switch (route.page) {
    case 'overview':
      return <Overview />;
    case 'destinations':
      return <Destinations loading={loading} />;
    case 'webhook':
      return <Destination key={route.id} webhookID={route.id} />;
    case 'integration':
      return <Destination key={route.name} integrationName={route.name} />;
    case 'dead-letters':
      return <DeadLetters />;
    default:
      return (
        <main id="main">
          <h1>Not found</h1>
          <p>
            Nothing at <code>{route.path}</code>. <a href={href.overview()}>Go to the overview</a>.
          </p>
        </main>
      );
  }
}

function title(r: Route): string {
  switch (r.page) {
    case 'overview':
      return 'Overview';
    case 'destinations':
      return 'Destinations';
    case 'webhook':
      return r.id;
    case 'integration':
      return r.name;
    case 'dead-letters':
      return 'Dead letters';
    default:
      return 'Not found';
  }
}
