import { useState, type FormEvent } from 'react';
import { api } from '../api';
import { ProblemView } from '../components/Problem';
import { Field } from '../components/bits';
import { useAction } from '../hooks';

/** Sign-in with the built-in administrator or a directory user (user@domain, DOMAIN\user or a short name). */
export function SignInPage({ onSignedIn }: { onSignedIn(): Promise<void> }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const { run, error, busy } = useAction();
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const done = await run(() => api.post('/api/auth/login', { username, password }));
    if (done) await onSignedIn();
  };
  return (
    <main className="sign-in" id="main">
      <form onSubmit={submit} aria-labelledby="sign-in-title">
        <div className="brand big">
          <span className="brand-mark" aria-hidden="true" />
          Lamina
        </div>
        <h1 id="sign-in-title">Sign in</h1>
        <p className="muted">The built-in administrator, or your directory account.</p>
        <Field label="User name" hint="administrator, user@domain or DOMAIN\user">
          <input
            name="username"
            autoComplete="username"
            required
            autoFocus
            value={username}
            onChange={(e) => setUsername(e.target.value)}
          />
        </Field>
        <Field label="Password">
          <input
            name="password"
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </Field>
        <ProblemView error={error} />
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
