// Models › Retrain and Activate. Retrain (tenant admin, a followed county) launches the county's
// `ml_model` run in Dagster; the new version replaces the active one only if it wins the promotion
// contest. Activate (platform admin: models are shared by every follower of a county) makes a
// registered version the active one and records the reason asked for here.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { api, data } from "../api/client";
import { useCan } from "../auth";
import { countyName } from "../lib/format";
import { ErrorBox } from "./ui";

export function RetrainPanel() {
  const isAdmin = useCan("admin");
  const subscriptions = useQuery({ queryKey: ["subscriptions"], queryFn: () => data(api.GET("/api/v1/subscriptions")), enabled: isAdmin });
  const train = useMutation({
    // One key per click: a retried request launches nothing twice.
    mutationFn: (county: string) => data(api.POST("/api/v1/models/train", {
      body: { county }, params: { header: { "Idempotency-Key": crypto.randomUUID() } } })),
  });
  const runId = train.data?.run_id;
  const run = useQuery({
    queryKey: ["train-run", runId],
    queryFn: () => data(api.GET("/api/v1/models/train/{run_id}", { params: { path: { run_id: runId! } } })),
    enabled: Boolean(runId),
    refetchInterval: (q) => (q.state.data?.finished ? false : 3000),
  });
  const client = useQueryClient();
  useEffect(() => {
    if (run.data?.finished) void client.invalidateQueries({ queryKey: ["models"] });
  }, [run.data?.finished, client]);
  if (!isAdmin || !subscriptions.data?.length) return null;
  return (
    <section className="card" aria-labelledby="retrain-h">
      <h2 id="retrain-h" className="h2">Retrain</h2>
      <p className="mt-1 text-sm text-slate-600">
        Trains the county's models on its latest sales. A new version is used only if it beats the active one on the same hold-out.
      </p>
      <div className="mt-2 flex flex-wrap gap-2">
        {subscriptions.data.map((s) => (
          <button key={s.county} type="button" className="btn" disabled={train.isPending} onClick={() => train.mutate(s.county)}>
            Retrain {countyName(s.county)}
          </button>
        ))}
      </div>
      {train.isSuccess && (
        <p role="status" className="mt-2 text-sm text-emerald-800">
          Training started for {countyName(train.data.county)} (run <span className="font-mono">{train.data.run_id}</span>)
          {run.data?.status ? `: ${run.data.status.toLowerCase()}` : ""}.
        </p>
      )}
      {train.isError && <ErrorBox error={train.error} />}
    </section>
  );
}

export function ActivateButton({ modelId, label }: { modelId: number; label: string }) {
  const isPlatform = useCan("platform");
  const client = useQueryClient();
  const [open, setOpen] = useState(false);
  const [reason, setReason] = useState("");
  const activate = useMutation({
    mutationFn: () => data(api.POST("/api/v1/models/{model_id}/activate", {
      params: { path: { model_id: modelId } }, body: { reason: reason.trim() } })),
    onSuccess: () => { setOpen(false); setReason(""); void client.invalidateQueries({ queryKey: ["models"] }); void client.invalidateQueries({ queryKey: ["model"] }); },
  });
  if (!isPlatform) return null;
  if (!open) {
    return <button type="button" className="btn" onClick={() => setOpen(true)}>Activate<span className="sr-only"> {label}</span></button>;
  }
  return (
    <form className="flex flex-wrap items-end gap-2" onSubmit={(e) => { e.preventDefault(); if (reason.trim().length >= 3) activate.mutate(); }}>
      <div>
        <label htmlFor={`reason-${modelId}`} className="label">Why activate {label}?</label>
        <input id={`reason-${modelId}`} className="input mt-1" value={reason} maxLength={500} required minLength={3}
          onChange={(e) => setReason(e.target.value)} />
      </div>
      <button type="submit" className="btn btn-primary" disabled={reason.trim().length < 3 || activate.isPending}>Confirm</button>
      <button type="button" className="btn" onClick={() => setOpen(false)}>Cancel</button>
      {activate.isError && <ErrorBox error={activate.error} />}
    </form>
  );
}
