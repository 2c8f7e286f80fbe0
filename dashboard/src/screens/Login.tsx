import { useState, type FormEvent } from "react";
import { Link, Navigate, useLocation, useNavigate } from "react-router-dom";
import { api, data, session } from "../api/client";
import { ApiError } from "../api/session";
import { ErrorBox } from "../components/ui";

export default function Login() {
  const navigate = useNavigate();
  const location = useLocation();
  const from = (location.state as { from?: string } | null)?.from ?? "/";
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [tenant, setTenant] = useState("");
  const [needsTenant, setNeedsTenant] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [resent, setResent] = useState<string | null>(null);

  if (session.active && !busy) return <Navigate to={from} replace />;

  // The right password of an address not verified yet: the person cannot log in to ask for a link.
  const unverified = error instanceof ApiError && error.code === "email_not_verified";

  async function resend() {
    try {
      const answer = await data(api.POST("/api/v1/auth/verify-email/resend", { body: { email } }));
      setResent(answer.detail);
    } catch (e) {
      setError(e);
    }
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setResent(null);
    try {
      await session.login(email, password, tenant || undefined);
      navigate(from, { replace: true });
    } catch (e) {
      // A member of several workspaces must say which one (the API's message names tenant_id).
      if (e instanceof Error && e.message.includes("tenant_id")) setNeedsTenant(true);
      setError(e);
      setBusy(false);
    }
  }

  return (
    <main className="flex min-h-screen items-center justify-center px-4">
      <form onSubmit={submit} className="card w-full max-w-sm space-y-4" aria-labelledby="login-title">
        <h1 id="login-title" className="h1">Sign in to Real Estate OS</h1>
        <div>
          <label htmlFor="email" className="label">Email</label>
          <input id="email" type="email" autoComplete="username" required className="input mt-1 w-full"
            value={email} onChange={(e) => setEmail(e.target.value)} />
        </div>
        <div>
          <label htmlFor="password" className="label">Password</label>
          <input id="password" type="password" autoComplete="current-password" required className="input mt-1 w-full"
            value={password} onChange={(e) => setPassword(e.target.value)} />
        </div>
        {needsTenant && (
          <div>
            <label htmlFor="tenant" className="label">Workspace id</label>
            <input id="tenant" className="input mt-1 w-full" value={tenant} onChange={(e) => setTenant(e.target.value)} />
          </div>
        )}
        {error !== null && <ErrorBox error={error} />}
        {unverified && !resent && (
          <button type="button" className="btn w-full justify-center" onClick={resend}>
            Send a new verification link
          </button>
        )}
        {resent && <p role="status" className="text-sm">{resent}</p>}
        <button type="submit" className="btn btn-primary w-full justify-center" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
        <p className="text-sm"><Link className="text-blue-800 underline" to="/forgot-password">Forgot your password?</Link></p>
      </form>
    </main>
  );
}
