import { useState } from 'preact/hooks';
import { api, session } from '../api/client';

/**
 * SignIn asks for an API key and checks it with one cheap API call before
 * keeping it (in sessionStorage only).
 */
export function SignIn({ onSignedIn, notice }: { onSignedIn: () => void; notice?: string }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    const k = key.trim();
    if (!k) {
      setError('Enter an API key.');
      return;
    }
    setBusy(true);
    setError('');
    try {
      // One cheap call with the candidate key; it is kept only if accepted.
      const { response: res } = await api.GET('/api/v1/webhooks', { params: { query: { limit: 1 } }, headers: { Authorization: `Bearer ${k}` } });
      if (res.status === 401) {
        setError('That API key was not accepted. Use one of the keys in LOKIHOOKS_API_KEYS on the server.');
        return;
      }
      if (!res.ok) {
        setError(`The server answered ${res.status} ${res.statusText}; try again.`);
        return;
      }
      session.set(k);
      onSignedIn();
    } catch {
      setError('The server did not answer; check that lokihooks is running.');
    } finally {
      setBusy(false);
    }
  };

  return (
    <main id="main" class="signin">
      <form class="card" onSubmit={submit} aria-labelledby="signin-title" noValidate>
        <h1 id="signin-title">Sign in to lokihooks</h1>
        {notice && (
          <p class="alert" role="status">
            {notice}
          </p>
        )}
        <label for="api-key">API key</label>
        <input
          id="api-key"
          name="api-key"
          type="password"
          autocomplete="off"
          spellcheck={false}
          value={key}
          onInput={(e) => setKey((e.target as HTMLInputElement).value)}
          aria-invalid={error ? 'true' : undefined}
          aria-describedby={error ? 'signin-error signin-help' : 'signin-help'}
          required
        />
        <p id="signin-help" class="help">
          The key is kept in this tab's session storage only, and is forgotten when the tab closes or you sign out.
        </p>
        {error && (
          <p id="signin-error" class="alert error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" class="primary" disabled={busy} aria-busy={busy}>
          {busy ? 'Checking…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
