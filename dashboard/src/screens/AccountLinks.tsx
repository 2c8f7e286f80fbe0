// The pages account email links to (and the form that sends one). The one-time token arrives in
// the URL's fragment (#token=…), which browsers never send to a server; it is read here, posted to
// the API once, and removed from the address bar so it does not linger in history.
import { useEffect, useRef, useState, type FormEvent, type ReactNode } from "react";
import { Link } from "react-router-dom";
import { api, data } from "../api/client";
import { ErrorBox } from "../components/ui";

function tokenFromFragment(): string {
  const token = new URLSearchParams(window.location.hash.slice(1)).get("token") ?? "";
  if (token) window.history.replaceState(null, "", window.location.pathname);
  return token;
}

function Card({ title, children }: { title: string; children: ReactNode }) {
  return (
    <main className="flex min-h-screen items-center justify-center px-4">
      <section className="card w-full max-w-sm space-y-4" aria-labelledby="account-title">
        <h1 id="account-title" className="h1">{title}</h1>
        {children}
      </section>
    </main>
  );
}

const SIGN_IN = <Link className="text-blue-800 underline" to="/login">Back to sign in</Link>;

export function ForgotPassword() {
  const [email, setEmail] = useState("");
  const [sent, setSent] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const answer = await data(api.POST("/api/v1/auth/password-reset", { body: { email } }));
      setSent(answer.detail);
    } catch (e) {
      setError(e);
    }
    setBusy(false);
  }

  return (
    <Card title="Reset your password">
      {sent ? (
        <p role="status">{sent} The link works for an hour.</p>
      ) : (
        <form onSubmit={submit} className="space-y-4">
          <div>
            <label htmlFor="email" className="label">Email</label>
            <input id="email" type="email" autoComplete="username" required className="input mt-1 w-full"
              value={email} onChange={(e) => setEmail(e.target.value)} />
          </div>
          {error !== null && <ErrorBox error={error} />}
          <button type="submit" className="btn btn-primary w-full justify-center" disabled={busy}>
            {busy ? "Sending…" : "Email me a link"}
          </button>
        </form>
      )}
      <p>{SIGN_IN}</p>
    </Card>
  );
}

export function ResetPassword() {
  const [token] = useState(tokenFromFragment);
  const [password, setPassword] = useState("");
  const [again, setAgain] = useState("");
  const [done, setDone] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const mismatch = again.length > 0 && again !== password;

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (mismatch) return;
    setBusy(true);
    setError(null);
    try {
      await data(api.POST("/api/v1/auth/password-reset/confirm", { body: { token, password } }));
      setDone(true);
    } catch (e) {
      setError(e);
    }
    setBusy(false);
  }

  if (!token) {
    return (
      <Card title="Choose a password">
        <p>This page needs the link from your email. <Link className="text-blue-800 underline"
          to="/forgot-password">Ask for a new one</Link>.</p>
      </Card>
    );
  }
  return (
    <Card title="Choose a password">
      {done ? (
        <p role="status">Your password is set, and every other session of this account is signed out.</p>
      ) : (
        <form onSubmit={submit} className="space-y-4">
          <div>
            <label htmlFor="new-password" className="label">New password (at least 10 characters)</label>
            <input id="new-password" type="password" autoComplete="new-password" required minLength={10}
              className="input mt-1 w-full" value={password} onChange={(e) => setPassword(e.target.value)} />
          </div>
          <div>
            <label htmlFor="new-password-again" className="label">The same again</label>
            <input id="new-password-again" type="password" autoComplete="new-password" required minLength={10}
              aria-invalid={mismatch} aria-describedby={mismatch ? "mismatch" : undefined}
              className="input mt-1 w-full" value={again} onChange={(e) => setAgain(e.target.value)} />
            {mismatch && <p id="mismatch" className="mt-1 text-sm text-red-700">The two passwords differ.</p>}
          </div>
          {error !== null && <ErrorBox error={error} />}
          <button type="submit" className="btn btn-primary w-full justify-center" disabled={busy || mismatch}>
            {busy ? "Saving…" : "Set password"}
          </button>
        </form>
      )}
      <p>{SIGN_IN}</p>
    </Card>
  );
}

export function VerifyEmail() {
  const [token] = useState(tokenFromFragment);
  const [state, setState] = useState<"working" | "done" | unknown>(token ? "working" : null);
  const posted = useRef(false); // once, even when React runs effects twice in development

  useEffect(() => {
    if (!token || posted.current) return;
    posted.current = true;
    data(api.POST("/api/v1/auth/verify-email/confirm", { body: { token } }))
      .then(() => setState("done"))
      .catch((e: unknown) => setState(e));
  }, [token]);

  return (
    <Card title="Confirm your email address">
      {state === "working" && <p role="status">Confirming…</p>}
      {state === "done" && <p role="status">Your address is confirmed. Thank you.</p>}
      {state === null && <p>This page needs the link from your email.</p>}
      {state !== "working" && state !== "done" && state !== null && <ErrorBox error={state} />}
      <p>{SIGN_IN}</p>
    </Card>
  );
}
