// Settings › Counties › run-time settings of one county: what the pipeline applies at its next step
// (quality thresholds, parcel viewer, sources on/off). Everyone reads them; a platform admin edits
// them (PATCH /settings/counties/{county}, a reason required; a stale version is refused, 409).
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api, data, type Schemas } from "../../api/client";
import { useCan } from "../../auth";
import { countyChanges, countyFields, formOf, reloadNotice, showValue, type FormValue } from "../../lib/countySettings";
import { formatDateTime } from "../../lib/format";
import { ErrorBox } from "../ui";

export function CountyRunSettings({ county }: { county: Schemas["CountySetting"] }) {
  const isPlatform = useCan("platform");
  const client = useQueryClient();
  const fields = countyFields(county.editable ?? {}, county.overridden ?? {});
  const [form, setForm] = useState<Record<string, FormValue> | null>(null);
  const [reset, setReset] = useState<Set<string>>(new Set());
  const [reason, setReason] = useState("");
  const save = useMutation({
    mutationFn: (body: Schemas["CountyUpdate"]) =>
      data(api.PATCH("/api/v1/settings/counties/{county}", { params: { path: { county: county.key } }, body })),
    onSuccess: () => { setForm(null); setReset(new Set()); setReason(""); void client.invalidateQueries({ queryKey: ["settings-counties"] }); },
  });
  const overridden = Object.keys(county.overridden ?? {});
  if (!county.valid) {
    // An override the file no longer admits disables the county: the operators can take it back.
    if (!isPlatform || overridden.length === 0) return null;
    return (
      <span className="block">
        <button type="button" className="btn mt-1" disabled={save.isPending} onClick={() => save.mutate({
          version: county.version ?? 0, reason: "the override no longer fits the county's file",
          changes: Object.fromEntries(overridden.map((p) => [p, null])) })}>
          Remove the override<span className="sr-only"> of {county.key}</span></button>
        {save.isError && <ErrorBox error={save.error} />}
      </span>
    );
  }
  if (fields.length === 0) return null;
  const id = (path: string) => `county-${county.key}-${path.replace(/\W/g, "-")}`;
  const changes = form ? countyChanges(fields, form, reset) : {};
  const change = county.last_change;
  const notice = reloadNotice(county.reload, county.version ?? 0);
  return (
    <details className="mt-1 text-xs">
      <summary className="cursor-pointer text-slate-700">
        Run-time settings{overridden.length > 0 && " (changed by the installation's operators)"}
        {notice?.warn && <span className="ml-1 rounded bg-amber-100 px-1 text-amber-900">pipeline reload failed</span>}
      </summary>
      {form === null ? (
        <div className="mt-1">
          <ul className="space-y-0.5">
            {fields.map((f) => (
              <li key={f.path}>{f.label}: <span className="font-medium">{showValue(f)}</span>
                {f.overridden && <span className="ml-1 rounded bg-amber-100 px-1 text-amber-900">changed</span>}</li>
            ))}
          </ul>
          {change && <p className="mt-1 text-slate-600">Last change {formatDateTime(change.updated_at)}: {change.reason}</p>}
          {notice && (
            // The asset-level freshness windows are built when Dagster loads the code: a change of the
            // cron or of the county's sources asks it to reload, after the answer (the steps apply the
            // change either way). The county's `reload` says how far it got (polled, and the live socket).
            <p role="status" className={`mt-1 ${notice.warn ? "text-amber-900" : "text-slate-600"}`}>{notice.text}</p>)}
          {isPlatform && <button type="button" className="btn mt-1" onClick={() => setForm(formOf(fields))}>
            Edit settings<span className="sr-only"> of {county.key}</span></button>}
        </div>
      ) : (
        <form className="mt-1 space-y-2" onSubmit={(e) => {
          e.preventDefault();
          save.mutate({ version: county.version ?? 0, reason, changes });
        }}>
          {fields.map((f) => (
            <div key={f.path} className="flex flex-wrap items-center gap-2">
              {f.kind === "switch" ? (
                <label className="flex items-center gap-2">
                  <input id={id(f.path)} type="checkbox" checked={Boolean(form[f.path])} disabled={reset.has(f.path)}
                    onChange={(e) => setForm({ ...form, [f.path]: e.target.checked })} />{f.label}
                </label>
              ) : (
                <>
                  <label htmlFor={id(f.path)} className="label">{f.label}</label>
                  <input id={id(f.path)} className="input w-72" inputMode={f.kind === "share" ? "decimal" : f.kind === "url" ? "url" : "text"}
                    value={String(form[f.path])} disabled={reset.has(f.path)}
                    onChange={(e) => setForm({ ...form, [f.path]: e.target.value })} />
                </>
              )}
              {f.overridden && (
                <label className="flex items-center gap-1 text-slate-600">
                  <input type="checkbox" checked={reset.has(f.path)} onChange={(e) => {
                    const next = new Set(reset);
                    if (e.target.checked) next.add(f.path); else next.delete(f.path);
                    setReset(next);
                  }} />back to the file's value
                </label>
              )}
            </div>
          ))}
          <label htmlFor={`county-${county.key}-reason`} className="label">Why (kept with the change)</label>
          <input id={`county-${county.key}-reason`} className="input w-full" required minLength={3} maxLength={500}
            value={reason} onChange={(e) => setReason(e.target.value)} />
          <div className="flex gap-2">
            <button type="submit" className="btn btn-primary" disabled={save.isPending || Object.keys(changes).length === 0}>
              Save<span className="sr-only"> settings of {county.key}</span></button>
            <button type="button" className="btn" onClick={() => { setForm(null); setReset(new Set()); save.reset(); }}>Cancel</button>
          </div>
          <p className="text-slate-600">Applied from the next step of the county's runs, and a discovery cron within a minute; every workspace following it is affected.</p>
        </form>
      )}
      {save.isError && <ErrorBox error={save.error} />}
    </details>
  );
}
