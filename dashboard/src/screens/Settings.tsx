import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api, data } from "../api/client";
import { useCan, useMe } from "../auth";
import { ErrorBox, Loading } from "../components/ui";
import { BrandingSettings } from "../components/settings/BrandingSettings";
import { CountiesFollowed } from "../components/settings/CountiesFollowed";
import { NotificationSettings } from "../components/settings/NotificationSettings";
import { ProfileSettings } from "../components/settings/ProfileSettings";
import { ScheduleSettings } from "../components/settings/ScheduleSettings";
import { UsagePanel } from "../components/UsagePanel";
import { WebhookEndpoints } from "../components/WebhookEndpoints";
import { formatDateTime } from "../lib/format";

const SCOPES = ["read", "write", "admin"] as const;
const ROLES = ["viewer", "analyst", "admin", "owner"] as const;
type Role = (typeof ROLES)[number];

export default function Settings() {
  return (
    <div className="space-y-6">
      <h1 className="h1">Settings</h1>
      <ProfileSettings />
      <NotificationSettings />
      <UsagePanel />
      <CountiesFollowed />
      <Members />
      <ApiKeys />
      <WebhookEndpoints />
      <BrandingSettings />
      <ScheduleSettings />
    </div>
  );
}

function ApiKeys() {
  const isAdmin = useCan("admin");
  const client = useQueryClient();
  const [name, setName] = useState("");
  const [scope, setScope] = useState<(typeof SCOPES)[number]>("read");
  const keys = useQuery({ queryKey: ["api-keys"], queryFn: () => data(api.GET("/api/v1/api-keys")), enabled: isAdmin });
  const create = useMutation({
    mutationFn: () => data(api.POST("/api/v1/api-keys", { body: { name: name.trim(), scopes: [scope] } })),
    onSuccess: () => { setName(""); void client.invalidateQueries({ queryKey: ["api-keys"] }); },
  });
  const revoke = useMutation({
    mutationFn: (id: number) => data(api.DELETE("/api/v1/api-keys/{key_id}", { params: { path: { key_id: id } } })),
    onSuccess: () => void client.invalidateQueries({ queryKey: ["api-keys"] }),
  });
  return (
    <section className="card" aria-labelledby="keys-h">
      <h2 id="keys-h" className="h2">API keys</h2>
      {!isAdmin ? (
        <p className="mt-2 text-sm text-slate-600">Only an admin of this workspace manages API keys.</p>
      ) : (
        <>
          {create.data && (
            <div role="status" className="mt-2 rounded-md border border-amber-300 bg-amber-50 p-3 text-sm">
              <p className="font-semibold">Copy the key “{create.data.name}” now: it is shown only once.</p>
              <code className="mt-1 block break-all rounded bg-white p-2" data-testid="new-key">{create.data.key}</code>
            </div>
          )}
          {keys.isPending ? <Loading /> : keys.isError ? <ErrorBox error={keys.error} /> : (
            <table className="mt-3 w-full text-sm">
              <caption className="sr-only">API keys of this workspace</caption>
              <thead className="text-left text-xs uppercase tracking-wide text-slate-600">
                <tr><th scope="col">Name</th><th scope="col">Key</th><th scope="col">Scopes</th><th scope="col">Last used</th><th scope="col"><span className="sr-only">Actions</span></th></tr>
              </thead>
              <tbody className="divide-y divide-slate-100">
                {keys.data.length === 0 && <tr><td colSpan={5} className="py-2 text-slate-600">No API key yet.</td></tr>}
                {keys.data.map((k) => (
                  <tr key={k.id}>
                    <td className="py-1.5">{k.name}</td>
                    <td className="py-1.5 font-mono text-xs">reos_{k.prefix}_…</td>
                    <td className="py-1.5">{k.scopes.join(", ")}</td>
                    <td className="py-1.5">{formatDateTime(k.last_used_at)}</td>
                    <td className="py-1.5 text-right">
                      {k.revoked_at ? <span className="text-slate-600">revoked {formatDateTime(k.revoked_at)}</span> : (
                        <button type="button" className="btn btn-danger" disabled={revoke.isPending}
                          onClick={() => { if (window.confirm(`Revoke “${k.name}”? Programs using it stop working at once.`)) revoke.mutate(k.id); }}>
                          Revoke<span className="sr-only"> {k.name}</span>
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <form className="mt-3 flex flex-wrap items-end gap-2" onSubmit={(e) => { e.preventDefault(); if (name.trim()) create.mutate(); }}>
            <div>
              <label htmlFor="key-name" className="label">New key name</label>
              <input id="key-name" className="input mt-1" value={name} maxLength={200} onChange={(e) => setName(e.target.value)} />
            </div>
            <div>
              <label htmlFor="key-scope" className="label">Scope</label>
              <select id="key-scope" className="input mt-1" value={scope} onChange={(e) => setScope(e.target.value as (typeof SCOPES)[number])}>
                {SCOPES.map((s) => <option key={s} value={s}>{s}</option>)}
              </select>
            </div>
            <button type="submit" className="btn btn-primary" disabled={!name.trim() || create.isPending}>Create key</button>
          </form>
          {create.isError && <ErrorBox error={create.error} />}
          {revoke.isError && <ErrorBox error={revoke.error} />}
        </>
      )}
    </section>
  );
}

function Members() {
  const isAdmin = useCan("admin");
  const { data: me } = useMe();
  const client = useQueryClient();
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Role>("viewer");
  const members = useQuery({ queryKey: ["members"], queryFn: () => data(api.GET("/api/v1/members")), enabled: isAdmin });
  const done = () => void client.invalidateQueries({ queryKey: ["members"] });
  const invite = useMutation({
    mutationFn: () => data(api.POST("/api/v1/members", { body: { email: email.trim(), role } })),
    onSuccess: () => { setEmail(""); done(); },
  });
  const change = useMutation({
    mutationFn: ({ id, to }: { id: number; to: Role }) =>
      data(api.PATCH("/api/v1/members/{user_id}", { params: { path: { user_id: id } }, body: { role: to } })),
    onSuccess: done,
  });
  const remove = useMutation({
    mutationFn: (id: number) => data(api.DELETE("/api/v1/members/{user_id}", { params: { path: { user_id: id } } })),
    onSuccess: done,
  });
  if (!isAdmin) return null; // members are an admin's business (the API answers 403 to others)
  return (
    <section className="card" aria-labelledby="members-h">
      <h2 id="members-h" className="h2">Users and roles</h2>
      <p className="mt-1 text-xs text-slate-600">
        Viewer: reads. Analyst: also writes notes. Admin: also members, keys and counties. Only an owner makes owners.
      </p>
      {members.isPending ? <Loading /> : members.isError ? <ErrorBox error={members.error} /> : (
        <table className="mt-3 w-full text-sm">
          <caption className="sr-only">Members of this workspace</caption>
          <thead className="text-left text-xs uppercase tracking-wide text-slate-600">
            <tr><th scope="col">Email</th><th scope="col">Role</th><th scope="col">Since</th><th scope="col"><span className="sr-only">Actions</span></th></tr>
          </thead>
          <tbody className="divide-y divide-slate-100">
            {members.data.map((m) => (
              <tr key={m.user_id}>
                <td className="py-1.5">{m.email}{m.is_active ? "" : " (deactivated)"}</td>
                <td className="py-1.5">
                  <label className="sr-only" htmlFor={`role-${m.user_id}`}>Role of {m.email}</label>
                  <select id={`role-${m.user_id}`} className="input" value={m.role} disabled={change.isPending || m.user_id === me?.user_id}
                    onChange={(e) => change.mutate({ id: m.user_id, to: e.target.value as Role })}>
                    {ROLES.map((r) => <option key={r} value={r}>{r}</option>)}
                  </select>
                </td>
                <td className="py-1.5">{formatDateTime(m.created_at)}</td>
                <td className="py-1.5 text-right">
                  {m.user_id !== me?.user_id && (
                    <button type="button" className="btn btn-danger" disabled={remove.isPending}
                      onClick={() => { if (window.confirm(`Remove ${m.email} from this workspace?`)) remove.mutate(m.user_id); }}>
                      Remove<span className="sr-only"> {m.email}</span>
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form className="mt-3 flex flex-wrap items-end gap-2" onSubmit={(e) => { e.preventDefault(); if (email.trim()) invite.mutate(); }}>
        <div>
          <label htmlFor="invite-email" className="label">Invite by email</label>
          <input id="invite-email" type="email" className="input mt-1" value={email} onChange={(e) => setEmail(e.target.value)} />
        </div>
        <div>
          <label htmlFor="invite-role" className="label">Role</label>
          <select id="invite-role" className="input mt-1" value={role} onChange={(e) => setRole(e.target.value as Role)}>
            {ROLES.map((r) => <option key={r} value={r}>{r}</option>)}
          </select>
        </div>
        <button type="submit" className="btn" disabled={!email.trim() || invite.isPending}>Invite</button>
      </form>
      <p className="mt-1 text-xs text-slate-600">
        An invited person gets an email with a link to choose a password (valid 7 days); until then they cannot sign in.
      </p>
      {invite.isError && <ErrorBox error={invite.error} />}
      {change.isError && <ErrorBox error={change.error} />}
      {remove.isError && <ErrorBox error={remove.error} />}
    </section>
  );
}
