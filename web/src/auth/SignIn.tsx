import { useState, type FormEvent } from 'react';
import type { SignInProps } from './session.js';
import { LoggedButton } from '../logging/LoggedButton.js';

export function SignIn({ error, busy, onSignIn }: SignInProps) {
  const [token, setToken] = useState('');
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (token.trim()) onSignIn(token.trim());
  };
  return (
    <div className="signin">
      <form className="card signin-card" onSubmit={submit} aria-label="Sign in">
        <h1>
          <span className="logo">◆</span> Quantix
        </h1>
        <p className="muted">Sign in with a bearer token. An admin token can change things; a viewer token only reads.</p>
        <label htmlFor="token">Token</label>
        <input
          id="token"
          name="token"
          type="password"
          autoComplete="off"
          // biome-ignore lint/a11y/noAutofocus: the token is the page's only field
          autoFocus
          value={token}
          onChange={(e) => setToken(e.target.value)}
          data-testid="token-input"
        />
        {error && (
          <div className="error-banner" role="alert" data-testid="signin-error">
            {error}
          </div>
        )}
        <LoggedButton logAction="sign-in" logCategory="auth" type="submit" className="primary" disabled={busy || !token.trim()} data-testid="signin-submit">
          {busy ? 'Signing in…' : 'Sign in'}
        </LoggedButton>
        <p className="muted small">
          After <code>make up</code>, tokens are the first column of <code>.quantix/tokens.csv</code>, e.g.{' '}
          <code>grep ,admin, .quantix/tokens.csv | cut -d, -f1</code> (or <code>,viewer,</code> for read-only). The token stays in this tab only
          (sessionStorage).
        </p>
      </form>
    </div>
  );
}
