import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { createColumnHelper, flexRender, getCoreRowModel, useReactTable } from "@tanstack/react-table";
import { useEffect, useMemo, useState } from "react";
import { Link } from "react-router-dom";
import { api, data, type Schemas } from "../api/client";
import { useCan } from "../auth";
import { CampaignPreview } from "../components/CampaignPreview";
import { ErrorBox, Loading } from "../components/ui";
import {
  CAMPAIGN_TYPES, EMPTY_SEGMENT, MAX_VARIANTS, VARIANT_LETTERS, cleanSubjects, criteriaFromForm, formatRate,
  progressLabel, unknownTokens, type CampaignType, type SegmentForm,
} from "../lib/campaigns";
import { formatDateTime, formatInteger, humanize } from "../lib/format";

type Campaign = Schemas["CampaignOut"];
type Segment = Schemas["SegmentOut"];
const column = createColumnHelper<Campaign>();

export default function Campaigns() {
  const canWrite = useCan("write");
  const [editing, setEditing] = useState<Campaign | "new" | null>(null);
  const [sending, setSending] = useState<number | null>(null);
  const campaigns = useQuery({ queryKey: ["campaigns"], queryFn: () => data(api.GET("/api/v1/campaigns")) });

  const columns = useMemo(() => [
    column.accessor("key", { header: "Campaign", cell: (c) => <span className="font-medium">{c.getValue()}</span> }),
    column.accessor("type", { header: "Type", cell: (c) => humanize(c.getValue()) }),
    column.accessor("status", { header: "Status", cell: (c) => <StatusBadge status={c.getValue()} /> }),
    column.accessor("segment_name", { header: "Audience", cell: (c) => c.getValue() ?? "Everyone" }),
    column.accessor((c) => c.stats.sent, { id: "sent", header: "Sent", cell: (c) => formatInteger(c.getValue()) }),
    column.accessor((c) => c.stats.opened_rate, {
      id: "opened", header: "Opened", cell: (c) => formatRate(c.getValue(), c.row.original.stats.sent) }),
    column.accessor((c) => c.stats.clicked_rate, {
      id: "clicked", header: "Clicked", cell: (c) => formatRate(c.getValue(), c.row.original.stats.sent) }),
    column.accessor((c) => c.stats.unsubscribed_rate, {
      id: "unsubscribed", header: "Unsubscribed", cell: (c) => formatRate(c.getValue(), c.row.original.stats.sent) }),
    column.accessor("last_send_at", { header: "Last send", cell: (c) => formatDateTime(c.getValue()) }),
    ...(canWrite ? [column.display({
      id: "actions", header: () => <span className="sr-only">Actions</span>,
      cell: (c) => (
        <span className="flex justify-end gap-2">
          <button type="button" className="btn" onClick={() => setEditing(c.row.original)}>
            Edit<span className="sr-only"> {c.row.original.key}</span>
          </button>
          <button type="button" className="btn btn-primary" onClick={() => setSending(c.row.original.id)}>
            Send<span className="sr-only"> {c.row.original.key}</span>
          </button>
        </span>
      ),
    })] : []),
  ], [canWrite]);
  const table = useReactTable({ data: campaigns.data ?? [], columns, getCoreRowModel: getCoreRowModel() });

  return (
    <div className="space-y-6">
      <div className="flex flex-wrap items-center justify-between gap-2">
        <h1 className="h1">Campaigns</h1>
        <div className="flex gap-2">
          <Link className="btn" to="/recipients">Recipients</Link>
          {canWrite && <button type="button" className="btn btn-primary" onClick={() => setEditing("new")}>New campaign</button>}
        </div>
      </div>
      {campaigns.isPending ? <Loading /> : campaigns.isError ? <ErrorBox error={campaigns.error} /> : (
        <div className="card overflow-x-auto">
          <table className="w-full text-sm">
            <caption className="sr-only">Campaigns of this workspace, with what their emails became</caption>
            <thead className="text-left text-xs uppercase tracking-wide text-slate-600">
              {table.getHeaderGroups().map((group) => (
                <tr key={group.id}>
                  {group.headers.map((header) => (
                    <th key={header.id} scope="col" className="px-2 py-1.5">
                      {flexRender(header.column.columnDef.header, header.getContext())}
                    </th>
                  ))}
                </tr>
              ))}
            </thead>
            <tbody className="divide-y divide-slate-100">
              {table.getRowModel().rows.length === 0 && (
                <tr><td colSpan={columns.length} className="px-2 py-3 text-slate-600">No campaign yet.</td></tr>
              )}
              {table.getRowModel().rows.map((row) => (
                <tr key={row.id}>
                  {row.getVisibleCells().map((cell) => (
                    <td key={cell.id} className="px-2 py-1.5 tabular-nums">{flexRender(cell.column.columnDef.cell, cell.getContext())}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {sending !== null && canWrite && <SendPanel campaignId={sending} onClose={() => setSending(null)} />}
      {editing !== null && canWrite && (
        <CampaignForm campaign={editing === "new" ? null : editing} onDone={() => setEditing(null)} />
      )}
    </div>
  );
}

function StatusBadge({ status }: { status: Campaign["status"] }) {
  const tone = status === "active" ? "bg-emerald-100 text-emerald-900" : status === "draft" ? "bg-slate-100 text-slate-800"
    : "bg-amber-100 text-amber-900";
  return <span className={`inline-block rounded px-1.5 py-0.5 text-xs font-semibold ${tone}`}>{status}</span>;
}

/** Send now, then follow the runs until they end (the API polls Dagster; nothing runs in the browser). */
function SendPanel({ campaignId, onClose }: { campaignId: number; onClose: () => void }) {
  const client = useQueryClient();
  // One key per click: a double click or a retried request launches nothing twice.
  const [attempt] = useState(() => crypto.randomUUID());
  const send = useMutation({
    mutationFn: () => data(api.POST("/api/v1/campaigns/{campaign_id}/send", {
      params: { path: { campaign_id: campaignId }, header: { "Idempotency-Key": attempt } } })),
    onSuccess: () => void client.invalidateQueries({ queryKey: ["campaigns"] }),
  });
  const progress = useQuery({
    queryKey: ["campaign-progress", campaignId],
    queryFn: () => data(api.GET("/api/v1/campaigns/{campaign_id}/progress", { params: { path: { campaign_id: campaignId } } })),
    enabled: send.isSuccess,
    refetchInterval: (q) => (q.state.data?.finished ? false : 2000),
  });
  useEffect(() => {
    if (progress.data?.finished) void client.invalidateQueries({ queryKey: ["campaigns"] });
  }, [progress.data?.finished, client]);
  const runs = progress.data?.runs ?? [];
  const done = runs.filter((r) => r.status && ["SUCCESS", "FAILURE", "CANCELED"].includes(r.status)).length;
  return (
    <section className="card" aria-labelledby="send-h">
      <h2 id="send-h" className="h2">Send campaign</h2>
      {!send.isSuccess && (
        <div className="mt-2 flex flex-wrap items-center gap-2 text-sm">
          <p>Run the emails step now for every county this campaign reaches. Each recipient gets each email once.</p>
          <button type="button" className="btn btn-primary" disabled={send.isPending} onClick={() => send.mutate()}>
            {send.isPending ? "Launching…" : "Send now"}
          </button>
          <button type="button" className="btn" onClick={onClose}>Cancel</button>
        </div>
      )}
      {send.isError && <div className="mt-2"><ErrorBox error={send.error} /></div>}
      {send.isSuccess && (
        <div className="mt-2 space-y-2 text-sm" data-testid="send-progress">
          <p>Launched {send.data.run_ids.length} run(s) for {send.data.counties.join(", ") || "the same counties"} at {formatDateTime(send.data.launched_at)}.</p>
          <progress className="w-full" max={Math.max(runs.length, 1)} value={done} aria-label="Runs finished" />
          <p role="status">{progress.data ? progressLabel(runs) : "Waiting for the runs…"}</p>
          {progress.data && Object.keys(progress.data.since_launch).length > 0 && (
            <p>Emails since launch: {Object.entries(progress.data.since_launch).map(([s, n]) => `${n} ${s}`).join(", ")}</p>
          )}
          <button type="button" className="btn" onClick={onClose}>Close</button>
        </div>
      )}
    </section>
  );
}

interface FormState {
  key: string;
  type: CampaignType;
  subjects: string[];
  intro: string;
  maxItems: number;
  attachPdf: boolean;
  segmentId: number | null;
  status: "draft" | "active" | "paused" | "archived";
}

function CampaignForm({ campaign, onDone }: { campaign: Campaign | null; onDone: () => void }) {
  const client = useQueryClient();
  const [form, setForm] = useState<FormState>(() => campaign ? {
    key: campaign.key, type: campaign.type, subjects: [...campaign.subjects], intro: campaign.intro,
    maxItems: campaign.max_items, attachPdf: campaign.attach_pdf, segmentId: campaign.segment_id, status: campaign.status,
  } : { key: "", type: "new_opportunity", subjects: [""], intro: "", maxItems: 10, attachPdf: true, segmentId: null, status: "draft" });
  const set = (patch: Partial<FormState>) => setForm((f) => ({ ...f, ...patch }));
  const subjects = cleanSubjects(form.subjects);
  const badTokens = [...new Set(form.subjects.flatMap(unknownTokens))];
  const save = useMutation({
    mutationFn: () => {
      const common = { subjects, intro: form.intro, max_items: form.maxItems, attach_pdf: form.attachPdf,
        link_ttl_days: campaign?.link_ttl_days ?? 14 };
      if (campaign) {
        return data(api.PATCH("/api/v1/campaigns/{campaign_id}", {
          params: { path: { campaign_id: campaign.id } },
          body: { ...common, status: form.status, ...(form.segmentId === null ? { everyone: true } : { segment_id: form.segmentId }) },
        }));
      }
      return data(api.POST("/api/v1/campaigns", { body: {
        ...common, key: form.key.trim(), type: form.type, segment_id: form.segmentId,
        status: form.status === "archived" ? "paused" : form.status } }));
    },
    onSuccess: () => { void client.invalidateQueries({ queryKey: ["campaigns"] }); onDone(); },
  });
  const title = campaign ? `Edit ${campaign.key}` : "New campaign";
  return (
    <section className="card" aria-labelledby="campaign-form-h">
      <h2 id="campaign-form-h" className="h2">{title}</h2>
      <form className="mt-3 grid gap-4 md:grid-cols-2" onSubmit={(e) => { e.preventDefault(); save.mutate(); }}>
        <div>
          <label htmlFor="c-key" className="label">Key</label>
          <input id="c-key" className="input mt-1 w-full" value={form.key} required disabled={campaign !== null}
            pattern="[a-z][a-z0-9_]*" maxLength={100} aria-describedby="c-key-hint" onChange={(e) => set({ key: e.target.value })} />
          <p id="c-key-hint" className="mt-1 text-xs text-slate-600">Lower-case letters, digits and _; recorded on every email.</p>
        </div>
        <div>
          <label htmlFor="c-type" className="label">Type</label>
          <select id="c-type" className="input mt-1 w-full" value={form.type} disabled={campaign !== null}
            onChange={(e) => set({ type: e.target.value as CampaignType })}>
            {CAMPAIGN_TYPES.map((t) => <option key={t} value={t}>{humanize(t)}</option>)}
          </select>
        </div>
        <fieldset className="md:col-span-2">
          <legend className="label">Subject lines (A/B variants)</legend>
          {form.subjects.map((subject, i) => (
            <div key={i} className="mt-1 flex items-center gap-2">
              <label htmlFor={`c-subject-${i}`} className="w-20 text-sm text-slate-700">Variant {VARIANT_LETTERS[i]}</label>
              <input id={`c-subject-${i}`} className="input flex-1" value={subject} maxLength={300} required={i === 0}
                onChange={(e) => set({ subjects: form.subjects.map((s, j) => (j === i ? e.target.value : s)) })} />
              {form.subjects.length > 1 && (
                <button type="button" className="btn" onClick={() => set({ subjects: form.subjects.filter((_, j) => j !== i) })}>
                  Remove<span className="sr-only"> variant {VARIANT_LETTERS[i]}</span>
                </button>
              )}
            </div>
          ))}
          {form.subjects.length < MAX_VARIANTS && (
            <button type="button" className="btn mt-2" onClick={() => set({ subjects: [...form.subjects, ""] })}>Add variant</button>
          )}
          <p className="mt-1 text-xs text-slate-600">
            Tokens: {"{first_name} {county} {score} {parcel_id} {count} {date}"}… Each email gets one variant, recorded for the A/B results.
          </p>
          {badTokens.length > 0 && <p role="alert" className="mt-1 text-sm text-red-800">Unknown tokens: {badTokens.map((t) => `{${t}}`).join(" ")}</p>}
        </fieldset>
        <div className="md:col-span-2">
          <label htmlFor="c-intro" className="label">Intro</label>
          <textarea id="c-intro" className="input mt-1 w-full" rows={2} maxLength={2000} value={form.intro}
            onChange={(e) => set({ intro: e.target.value })} />
        </div>
        <div>
          <label htmlFor="c-max" className="label">Properties per email (digests)</label>
          <input id="c-max" type="number" min={1} max={100} className="input mt-1 w-32" value={form.maxItems}
            onChange={(e) => set({ maxItems: Number(e.target.value) })} />
        </div>
        <div className="flex items-end gap-2">
          <input id="c-pdf" type="checkbox" checked={form.attachPdf} onChange={(e) => set({ attachPdf: e.target.checked })} />
          <label htmlFor="c-pdf" className="text-sm">Attach the PDF</label>
        </div>
        <div>
          <label htmlFor="c-status" className="label">Status</label>
          <select id="c-status" className="input mt-1" value={form.status}
            onChange={(e) => set({ status: e.target.value as FormState["status"] })}>
            <option value="draft">draft (sends nothing)</option>
            <option value="active">active</option>
            <option value="paused">paused</option>
            {campaign && <option value="archived">archived</option>}
          </select>
        </div>
        <SegmentPicker value={form.segmentId} onChange={(segmentId) => set({ segmentId })} />
        <div className="flex gap-2 md:col-span-2">
          <button type="submit" className="btn btn-primary" disabled={save.isPending || subjects.length === 0 || badTokens.length > 0}>
            {campaign ? "Save changes" : "Create campaign"}
          </button>
          <button type="button" className="btn" onClick={onDone}>Cancel</button>
        </div>
        {save.isError && <div className="md:col-span-2"><ErrorBox error={save.error} /></div>}
      </form>
      <CampaignPreview type={form.type} subjects={subjects} intro={form.intro} attachPdf={form.attachPdf} maxItems={form.maxItems} />
      {campaign && <Results campaignId={campaign.id} />}
    </section>
  );
}

/** The A/B test so far: each subject variant's sends and opens, and the emails by state. */
function Results({ campaignId }: { campaignId: number }) {
  const detail = useQuery({
    queryKey: ["campaigns", campaignId],
    queryFn: () => data(api.GET("/api/v1/campaigns/{campaign_id}", { params: { path: { campaign_id: campaignId } } })),
  });
  if (detail.isPending) return <Loading />;
  if (detail.isError) return <ErrorBox error={detail.error} />;
  const { variants, by_status: byStatus, recipient_count: audience } = detail.data;
  return (
    <div className="mt-4 text-sm">
      <h3 className="font-semibold">Results</h3>
      <p className="mt-1 text-slate-700">
        Audience now: {formatInteger(audience)} recipients. Emails: {Object.entries(byStatus).map(([s, n]) => `${n} ${s}`).join(", ") || "none yet"}.
      </p>
      {variants.length > 0 && (
        <table className="mt-2 w-full">
          <caption className="sr-only">Subject variants (A/B test)</caption>
          <thead className="text-left text-xs uppercase tracking-wide text-slate-600">
            <tr><th scope="col">Variant</th><th scope="col">Subject (example)</th><th scope="col">Sent</th><th scope="col">Opened</th><th scope="col">Open rate</th></tr>
          </thead>
          <tbody className="divide-y divide-slate-100">
            {variants.map((v) => (
              <tr key={v.variant}>
                <td className="py-1">{v.variant}</td><td className="py-1">{v.subject ?? "—"}</td>
                <td className="py-1 tabular-nums">{formatInteger(v.sent)}</td><td className="py-1 tabular-nums">{formatInteger(v.opened)}</td>
                <td className="py-1 tabular-nums">{formatRate(v.open_rate, v.sent)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

/** Pick a saved segment, or build one with a live recipient count (POST /segments/preview). */
function SegmentPicker({ value, onChange }: { value: number | null; onChange: (id: number | null) => void }) {
  const client = useQueryClient();
  const segments = useQuery({ queryKey: ["segments"], queryFn: () => data(api.GET("/api/v1/segments")) });
  const [building, setBuilding] = useState(false);
  const [name, setName] = useState("");
  const [form, setForm] = useState<SegmentForm>(EMPTY_SEGMENT);
  const criteria = criteriaFromForm(form);
  const everyone = useQuery({
    queryKey: ["segment-preview", {}],
    queryFn: () => data(api.POST("/api/v1/segments/preview", { body: {} })),
  });
  const preview = useQuery({
    queryKey: ["segment-preview", criteria],
    queryFn: () => data(api.POST("/api/v1/segments/preview", { body: criteria })),
    enabled: building,
    placeholderData: keepPreviousData,
  });
  const create = useMutation({
    mutationFn: () => data(api.POST("/api/v1/segments", { body: { name: name.trim(), criteria } })),
    onSuccess: (made: Segment) => {
      void client.invalidateQueries({ queryKey: ["segments"] });
      onChange(made.id);
      setBuilding(false); setName(""); setForm(EMPTY_SEGMENT);
    },
  });
  const selected = segments.data?.find((s) => s.id === value);
  const count = value === null ? everyone.data?.recipient_count : selected?.recipient_count;
  return (
    <div className="md:col-span-2">
      <label htmlFor="c-segment" className="label">Audience</label>
      <div className="mt-1 flex flex-wrap items-center gap-2">
        <select id="c-segment" className="input" value={value ?? ""} onChange={(e) => onChange(e.target.value ? Number(e.target.value) : null)}>
          <option value="">Every recipient</option>
          {(segments.data ?? []).map((s) => <option key={s.id} value={s.id}>{s.name} ({s.recipient_count})</option>)}
        </select>
        <span className="text-sm text-slate-700" data-testid="audience-count">
          {count === undefined ? "…" : `${formatInteger(count)} recipients`}
        </span>
        {!building && <button type="button" className="btn" onClick={() => setBuilding(true)}>New segment</button>}
      </div>
      {building && (
        <fieldset className="mt-3 grid gap-3 rounded-md border border-slate-200 p-3 md:grid-cols-2">
          <legend className="px-1 text-sm font-semibold">New segment</legend>
          <div>
            <label htmlFor="s-name" className="label">Name</label>
            <input id="s-name" className="input mt-1 w-full" value={name} maxLength={200} onChange={(e) => setName(e.target.value)} />
          </div>
          <div>
            <label htmlFor="s-counties" className="label">Counties (any of)</label>
            <input id="s-counties" className="input mt-1 w-full" placeholder="king_wa, cook_il" value={form.counties}
              onChange={(e) => setForm({ ...form, counties: e.target.value })} />
          </div>
          <div>
            <label htmlFor="s-types" className="label">Property types (any of)</label>
            <input id="s-types" className="input mt-1 w-full" placeholder="sfr" value={form.propertyTypes}
              onChange={(e) => setForm({ ...form, propertyTypes: e.target.value })} />
          </div>
          <div>
            <label htmlFor="s-score" className="label">Takes scores from at most</label>
            <input id="s-score" type="number" min={0} max={100} className="input mt-1 w-32" value={form.maxMinScore}
              onChange={(e) => setForm({ ...form, maxMinScore: e.target.value })} />
          </div>
          <div>
            <label htmlFor="s-domains" className="label">Email domains</label>
            <input id="s-domains" className="input mt-1 w-full" placeholder="example.com" value={form.emailDomains}
              onChange={(e) => setForm({ ...form, emailDomains: e.target.value })} />
          </div>
          <fieldset>
            <legend className="label">Subscribed to (any of)</legend>
            <div className="mt-1 flex flex-wrap gap-3">
              {CAMPAIGN_TYPES.map((t) => (
                <label key={t} className="flex items-center gap-1 text-sm">
                  <input type="checkbox" checked={form.campaignTypes.includes(t)} onChange={(e) => setForm({
                    ...form, campaignTypes: e.target.checked ? [...form.campaignTypes, t] : form.campaignTypes.filter((x) => x !== t) })} />
                  {humanize(t)}
                </label>
              ))}
            </div>
          </fieldset>
          <p role="status" className="text-sm md:col-span-2" data-testid="segment-live-count">
            {preview.data ? `${formatInteger(preview.data.recipient_count)} recipients match` : "Counting…"}
            {preview.data && preview.data.suppressed_count > 0 && ` (${preview.data.suppressed_count} opted out: sent nothing)`}
          </p>
          <div className="flex gap-2 md:col-span-2">
            <button type="button" className="btn btn-primary" disabled={!name.trim() || create.isPending} onClick={() => create.mutate()}>
              Save segment
            </button>
            <button type="button" className="btn" onClick={() => setBuilding(false)}>Cancel</button>
          </div>
          {create.isError && <div className="md:col-span-2"><ErrorBox error={create.error} /></div>}
        </fieldset>
      )}
    </div>
  );
}
