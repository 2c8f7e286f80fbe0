// Settings › Webhooks: a tenant admin's outgoing webhook endpoints (API /api/v1/webhook-endpoints).
// The signing secret is shown once, when an endpoint is created; the delivery log says what was
// sent, how often it was tried and what the endpoint answered.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api, data, type Schemas } from "../api/client";
import { useCan } from "../auth";
import { formatDateTime } from "../lib/format";
import { ErrorBox, Loading } from "./ui";

const EVENTS = [
  { id: "deal.new", label: "New deal (a followed county's property scores at or above the threshold)" },
  { id: "campaign.sent", label: "Campaign sent (a day's emails all settled, with counts)" },
  { id: "search.match", label: "Saved-search alert (a new property matches a saved search with alerts on)" },
  { id: "quota.warning", label: "Quota warning (80% of a monthly limit of the plan used)" },
] as const;
type EventId = (typeof EVENTS)[number]["id"];
const KEY = ["webhook-endpoints"];

export function WebhookEndpoints() {
  const isAdmin = useCan("admin");
  const client = useQueryClient();
  const [url, setUrl] = useState("");
  const [events, setEvents] = useState<EventId[]>(["deal.new"]);
  const [open, setOpen] = useState<number | null>(null);
  const endpoints = useQuery({ queryKey: KEY, queryFn: () => data(api.GET("/api/v1/webhook-endpoints")), enabled: isAdmin });
  const refresh = () => void client.invalidateQueries({ queryKey: KEY });
  const create = useMutation({
    mutationFn: () => data(api.POST("/api/v1/webhook-endpoints", { body: { url: url.trim(), description: "", event_types: events } })),
    onSuccess: ({ secret: _secret, ...created }) => {
      setUrl("");
      // The list shows the new endpoint from this answer at once (without its secret), whatever
      // the refetch that follows meets on a busy server.
      client.setQueryData<Schemas["WebhookEndpoint"][]>(KEY, (now) => now && [...now.filter((e) => e.id !== created.id), created]);
      refresh();
    },
  });
  const update = useMutation({
    mutationFn: ({ id, is_active }: { id: number; is_active: boolean }) =>
      data(api.PATCH("/api/v1/webhook-endpoints/{endpoint_id}", { params: { path: { endpoint_id: id } }, body: { is_active } })),
    onSuccess: refresh,
  });
  const remove = useMutation({
    mutationFn: (id: number) => data(api.DELETE("/api/v1/webhook-endpoints/{endpoint_id}", { params: { path: { endpoint_id: id } } })),
    onSuccess: refresh,
  });
  const ping = useMutation({
    mutationFn: (id: number) => data(api.POST("/api/v1/webhook-endpoints/{endpoint_id}/ping", { params: { path: { endpoint_id: id } } })),
    onSuccess: (_, id) => { setOpen(id); void client.invalidateQueries({ queryKey: ["webhook-deliveries", id] }); },
  });
  const toggle = (id: EventId) => setEvents((now) => (now.includes(id) ? now.filter((e) => e !== id) : [...now, id]));

  return (
    <section className="card" aria-labelledby="webhooks-h">
      <h2 id="webhooks-h" className="h2">Webhooks</h2>
      {!isAdmin ? (
        <p className="mt-2 text-sm text-slate-600">Only an admin of this workspace manages webhooks.</p>
      ) : (
        <>
          <p className="mt-1 text-sm text-slate-600">
            Signed per the Standard Webhooks spec; failed deliveries are retried for about a day.
          </p>
          {create.data && (
            <div role="status" className="mt-2 rounded-md border border-amber-300 bg-amber-50 p-3 text-sm">
              <p className="font-semibold">Copy the signing secret now: it is shown only once.</p>
              <code className="mt-1 block break-all rounded bg-white p-2" data-testid="new-webhook-secret">{create.data.secret}</code>
            </div>
          )}
          {endpoints.isPending ? <Loading /> : endpoints.isError ? <ErrorBox error={endpoints.error} /> : (
            <ul className="mt-3 divide-y divide-slate-100">
              {endpoints.data.length === 0 && <li className="py-2 text-sm text-slate-600">No endpoint yet.</li>}
              {endpoints.data.map((e) => (
                <li key={e.id} className="py-2 text-sm">
                  <div className="flex flex-wrap items-center justify-between gap-2">
                    <div className="min-w-0">
                      <p className="break-all font-medium">{e.url}</p>
                      <p className="text-slate-600">
                        {e.event_types.join(", ")} · secret {e.secret_hint} ·{" "}
                        {e.is_active ? "on" : <span className="text-red-700">off{e.disabled_reason ? ` (${e.disabled_reason})` : ""}</span>}
                      </p>
                    </div>
                    <div className="flex flex-wrap gap-2">
                      <button type="button" className="btn" disabled={!e.is_active || ping.isPending} onClick={() => ping.mutate(e.id)}>
                        Send a test<span className="sr-only"> to {e.url}</span>
                      </button>
                      <button type="button" className="btn" onClick={() => update.mutate({ id: e.id, is_active: !e.is_active })}>
                        {e.is_active ? "Switch off" : "Switch on"}<span className="sr-only"> {e.url}</span>
                      </button>
                      <button type="button" className="btn" aria-expanded={open === e.id} onClick={() => setOpen(open === e.id ? null : e.id)}>
                        Deliveries<span className="sr-only"> of {e.url}</span>
                      </button>
                      <button type="button" className="btn btn-danger" disabled={remove.isPending}
                        onClick={() => { if (window.confirm(`Remove ${e.url} and its delivery log?`)) remove.mutate(e.id); }}>
                        Remove<span className="sr-only"> {e.url}</span>
                      </button>
                    </div>
                  </div>
                  {open === e.id && <Deliveries endpointId={e.id} />}
                </li>
              ))}
            </ul>
          )}
          <form className="mt-3 space-y-2" onSubmit={(ev) => { ev.preventDefault(); if (url.trim() && events.length) create.mutate(); }}>
            <div>
              <label htmlFor="webhook-url" className="label">Endpoint URL</label>
              <input id="webhook-url" type="url" className="input mt-1 w-full" placeholder="https://crm.example.com/hooks/reos"
                value={url} maxLength={2000} onChange={(ev) => setUrl(ev.target.value)} />
            </div>
            <fieldset>
              <legend className="label">Events</legend>
              {EVENTS.map((ev) => (
                <label key={ev.id} className="mt-1 flex items-start gap-2 text-sm">
                  <input type="checkbox" className="mt-1" checked={events.includes(ev.id)} onChange={() => toggle(ev.id)} />
                  <span><code>{ev.id}</code> — {ev.label}</span>
                </label>
              ))}
            </fieldset>
            <button type="submit" className="btn" disabled={!url.trim() || events.length === 0 || create.isPending}>Add endpoint</button>
          </form>
          {[create, update, remove, ping].map((m, i) => m.isError && <ErrorBox key={i} error={m.error} />)}
        </>
      )}
    </section>
  );
}

function Deliveries({ endpointId }: { endpointId: number }) {
  const deliveries = useQuery({
    queryKey: ["webhook-deliveries", endpointId],
    queryFn: () => data(api.GET("/api/v1/webhook-endpoints/{endpoint_id}/deliveries",
      { params: { path: { endpoint_id: endpointId }, query: { limit: 20 } } })),
    // Pending deliveries change as the sensor works through them.
    refetchInterval: (query) => (query.state.data?.some((d: Schemas["WebhookDelivery"]) => d.status === "pending") ? 5000 : false),
  });
  if (deliveries.isPending) return <Loading />;
  if (deliveries.isError) return <ErrorBox error={deliveries.error} />;
  return (
    <div className="mt-2 overflow-x-auto" tabIndex={0} role="region" aria-label="Deliveries">
      <table className="w-full text-xs">
        <caption className="sr-only">The endpoint's last deliveries</caption>
        <thead className="text-left uppercase tracking-wide text-slate-600">
          <tr><th scope="col">Event</th><th scope="col">Status</th><th scope="col">Attempts</th><th scope="col">Last answer</th><th scope="col">When</th></tr>
        </thead>
        <tbody className="divide-y divide-slate-100">
          {deliveries.data.length === 0 && <tr><td colSpan={5} className="py-1.5 text-slate-600">Nothing sent yet.</td></tr>}
          {deliveries.data.map((d) => (
            <tr key={d.id}>
              <td className="py-1.5 font-mono">{d.event_type}</td>
              <td className="py-1.5">{d.status}{d.status === "pending" && d.next_attempt_at ? `, next ${formatDateTime(d.next_attempt_at)}` : ""}</td>
              <td className="py-1.5">{d.attempts}</td>
              <td className="py-1.5 break-all">{d.last_status_code ?? (d.last_error ? "no answer" : "—")}{d.last_error ? ` ${d.last_error}` : ""}</td>
              <td className="py-1.5">{formatDateTime(d.delivered_at ?? d.created_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
