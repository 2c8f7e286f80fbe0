import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useParams } from "react-router-dom";
import { api, data, session, type Schemas } from "../api/client";
import { useCan } from "../auth";
import { Provenance, type ProvenanceInfo } from "../components/Provenance";
import { ErrorBox, Loading, ScoreBadge } from "../components/ui";
import {
  countyName, formatCode, formatDate, formatDateTime, formatField, formatMoney, formatPercent, formatProbability, formatValue,
  humanize, percentile, propertyTitle,
} from "../lib/format";
import { Comps } from "./property/Comps";
import { Emails } from "./property/Emails";
import { PriceHistory } from "./property/PriceHistory";
import { WhyThisScore } from "./property/Reasons";
import { Similar } from "./property/Similar";

// Prospect columns shown as facts (the rest are keys and bookkeeping, or already in the heading).
const PROSPECT_FACTS = ["parcel_id", "list_price", "listing_status", "sources", "first_seen_at", "last_seen_at"];

export default function PropertyDetail() {
  const id = Number(useParams().id);
  const detail = useQuery({
    queryKey: ["property", id],
    queryFn: () => data(api.GET("/api/v1/properties/{property_id}", { params: { path: { property_id: id } } })),
    enabled: Number.isInteger(id),
  });
  if (!Number.isInteger(id)) return <ErrorBox error={new Error("Not a property id")} />;
  if (detail.isPending) return <Loading label="Loading property" />;
  if (detail.isError) return <ErrorBox error={detail.error} />;
  const p = detail.data;
  const prospect = p.prospect as Record<string, unknown>;
  const address = propertyTitle({ ...prospect, prospect_key: p.prospect_key });

  return (
    <article className="space-y-6" aria-labelledby="title">
      <div>
        <Link to="/properties" className="text-sm text-blue-800 underline">← Properties</Link>
        <h1 id="title" className="h1 mt-1">{address}</h1>
        <p className="text-slate-700">
          {[[prospect.city, prospect.state, prospect.zip].filter(Boolean).join(" "), countyName(p.county),
            formatCode(prospect.use_type as string | null)].filter((x) => x && x !== "—").join(" · ")}{" "}
          · status <span className="font-medium">{humanize(String(prospect.status ?? "—"))}</span>
        </p>
      </div>
      <div className="grid gap-6 lg:grid-cols-3">
        <div className="min-w-0 space-y-6 lg:col-span-2">
          <ScoreCard propertyId={p.id} score={p.score ?? null} />
          <Comps propertyId={p.id} />
          <PriceHistory propertyId={p.id} />
          <Facts detail={p} prospect={prospect} />
        </div>
        <div className="min-w-0 space-y-6">
          <Memos propertyId={p.id} />
          <Similar propertyId={p.id} />
          <Emails propertyId={p.id} />
          <Notes propertyId={p.id} />
        </div>
      </div>
    </article>
  );
}

function ScoreCard({ propertyId, score }: { propertyId: number; score: Schemas["PropertyScore"] | null }) {
  if (!score) {
    return (
      <section className="card" aria-labelledby="score-h">
        <h2 id="score-h" className="h2">Score</h2>
        <p className="mt-2 text-sm text-slate-600">Not scored yet: the property has not been through enrichment and scoring.</p>
      </section>
    );
  }
  return (
    <section className="card space-y-4" aria-labelledby="score-h">
      <div className="flex flex-wrap items-baseline justify-between gap-2">
        <h2 id="score-h" className="h2">Score <ScoreBadge score={score.bird_dog_score} /></h2>
        <p className="text-xs text-slate-600">rank {score.score_rank} · as of {formatDate(score.as_of_date)} · model {score.model_version}</p>
      </div>
      <dl className="grid grid-cols-2 gap-3 sm:grid-cols-4">
        <Figure label="Estimated value" value={formatMoney(score.estimated_value)}
          hint={score.estimated_value_low != null && score.estimated_value_high != null
            ? `80% range ${formatMoney(score.estimated_value_low)}–${formatMoney(score.estimated_value_high)}`
            : "no range: too few recent errors at this price to state one"} />
        <Figure label="Value gap" value={formatPercent(score.value_gap_pct, true)} />
        <Figure label="Deal probability" value={formatProbability(score.deal_probability)} />
        <Figure label="Sale in 12 months" value={formatProbability(score.sale_probability_12m)} />
      </dl>
      <div>
        <h3 className="font-semibold">Components <span className="text-xs font-normal text-slate-600">(percentile within the county)</span></h3>
        <ul className="mt-2 space-y-2">
          {score.components.map((c) => {
            const pct = percentile(c.percentile);
            return (
              <li key={c.name}>
                <div className="flex justify-between gap-2 text-sm">
                  <span>{c.label === c.name ? humanize(c.label) : c.label}</span>
                  <span className="tabular-nums font-medium">{pct === null ? "no data" : `percentile ${pct.toFixed(0)}`}</span>
                </div>
                <div className="mt-1 h-2 rounded bg-slate-200" aria-hidden="true">
                  <div className="h-2 rounded bg-blue-800" style={{ width: `${pct ?? 0}%` }} />
                </div>
              </li>
            );
          })}
        </ul>
      </div>
      <WhyThisScore propertyId={propertyId} score={score} />
    </section>
  );
}

function Figure({ label, value, hint }: { label: string; value: string; hint?: string }) {
  return (
    <div>
      <dt className="label">{label}</dt>
      <dd className="text-lg font-semibold tabular-nums">{value}</dd>
      {hint && <dd className="text-xs text-slate-600">{hint}</dd>}
    </div>
  );
}

function Facts({ detail, prospect }: { detail: Schemas["PropertyDetail"]; prospect: Record<string, unknown> }) {
  const all = Object.entries(detail.enrichment ?? {});
  const known = all.filter(([, f]) => f.value !== null && f.value !== undefined && f.value !== "");
  const unknown = all.filter(([, f]) => !known.some(([, k]) => k === f)).map(([field]) => field);
  return (
    <section className="card" aria-labelledby="facts-h">
      <h2 id="facts-h" className="h2">Facts</h2>
      <p className="mt-1 text-xs text-slate-600">
        Enrichment {detail.enrichment_status ?? "not run"}{detail.enrichment_as_of ? ` as of ${formatDate(detail.enrichment_as_of)}` : ""}.
        Hover or focus a source for when and how sure.
        {detail.enrichment_failure_reason ? ` Failure: ${detail.enrichment_failure_reason}` : ""}
      </p>
      <table className="mt-3 w-full text-sm">
        <caption className="sr-only">Facts about the property and their sources</caption>
        <thead>
          <tr className="text-left text-xs uppercase tracking-wide text-slate-600">
            <th scope="col" className="py-1">Fact</th><th scope="col" className="py-1">Value</th><th scope="col" className="py-1">Source</th>
          </tr>
        </thead>
        <tbody className="divide-y divide-slate-100">
          {known.map(([field, f]) => (
            <tr key={field}>
              <th scope="row" className="py-1.5 pr-2 text-left font-normal text-slate-700">{humanize(field)}</th>
              <td className="py-1.5 pr-2 font-medium">{formatField(field, f.value)}</td>
              <td className="py-1.5"><Provenance info={f.provenance as ProvenanceInfo | null} /></td>
            </tr>
          ))}
          {PROSPECT_FACTS.filter((k) => k in prospect).map((k) => (
            <tr key={k}>
              <th scope="row" className="py-1.5 pr-2 text-left font-normal text-slate-700">{humanize(k)}</th>
              <td className="py-1.5 pr-2 font-medium">
                {k === "list_price" ? formatMoney(prospect[k]) : k.endsWith("_at") ? formatDateTime(prospect[k]) : formatValue(prospect[k])}
              </td>
              <td className="py-1.5 text-xs text-slate-600">discovery</td>
            </tr>
          ))}
        </tbody>
      </table>
      {unknown.length > 0 && (
        <details className="mt-3 text-sm">
          <summary className="cursor-pointer text-slate-700">Not known for this property ({unknown.length} fields)</summary>
          <p className="mt-1 text-slate-600">
            No source answered these (a source not configured for the county, or no record for the parcel): {unknown.map(humanize).join(", ")}.
          </p>
        </details>
      )}
    </section>
  );
}

const MEMOS = [["investor_memo", "Investor memo"], ["executive_summary", "Executive summary"]] as const;

/** The memo PDFs: the API redirects to a link that lives minutes (followed here, same origin), or
 * answers 202 when the memo is not rendered yet and asks the pipeline to render it. */
function Memos({ propertyId }: { propertyId: number }) {
  const [message, setMessage] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  async function open(template: string, label: string) {
    setBusy(template);
    setMessage(null);
    try {
      const response = await session.get(`/api/v1/properties/${propertyId}/memo?template=${template}`);
      if (response.status === 202) {
        setMessage(`${label}: not rendered yet. The pipeline renders it within a few minutes; try again then.`);
      } else if (response.ok) {
        window.open(URL.createObjectURL(await response.blob()), "_blank", "noopener");
      } else {
        setMessage(`${label}: the API answered ${response.status} ${response.statusText}.`);
      }
    } finally {
      setBusy(null);
    }
  }
  return (
    <section className="card" aria-labelledby="memos-h">
      <h2 id="memos-h" className="h2">Memos</h2>
      <div className="mt-2 flex flex-wrap gap-2">
        {MEMOS.map(([template, label]) => (
          <button key={template} type="button" className="btn" disabled={busy !== null}
                  onClick={() => void open(template, label)}>
            {busy === template ? "Opening…" : `${label} (PDF)`}
          </button>
        ))}
      </div>
      {message && <p role="status" className="mt-2 text-sm text-slate-700">{message}</p>}
    </section>
  );
}

function Notes({ propertyId }: { propertyId: number }) {
  const canWrite = useCan("write");
  const client = useQueryClient();
  const [body, setBody] = useState("");
  const path = { params: { path: { property_id: propertyId } } };
  const notes = useQuery({ queryKey: ["notes", propertyId], queryFn: () => data(api.GET("/api/v1/properties/{property_id}/notes", path)) });
  const add = useMutation({
    mutationFn: () => data(api.POST("/api/v1/properties/{property_id}/notes", { ...path, body: { body: body.trim() } })),
    onSuccess: () => {
      setBody("");
      void client.invalidateQueries({ queryKey: ["notes", propertyId] });
    },
  });
  return (
    <section className="card" aria-labelledby="notes-h">
      <h2 id="notes-h" className="h2">Notes</h2>
      {notes.isPending ? <Loading /> : notes.isError ? <ErrorBox error={notes.error} /> : notes.data.length === 0 ? (
        <p className="mt-2 text-sm text-slate-600">No notes yet.</p>
      ) : (
        <ol className="mt-2 space-y-3" aria-label="Notes, oldest first">
          {notes.data.map((n) => (
            <li key={n.id} className="rounded-md bg-slate-50 p-2 text-sm">
              <p className="whitespace-pre-wrap">{n.body}</p>
              <p className="mt-1 text-xs text-slate-600">{n.author} · {formatDateTime(n.created_at)}</p>
            </li>
          ))}
        </ol>
      )}
      {canWrite && (
        <form className="mt-3 space-y-2" onSubmit={(e) => { e.preventDefault(); if (body.trim()) add.mutate(); }}>
          <label htmlFor="note-body" className="label">Add a note</label>
          <textarea id="note-body" rows={3} className="input w-full" value={body} maxLength={10000}
            onChange={(e) => setBody(e.target.value)} />
          {add.isError && <ErrorBox error={add.error} />}
          <button type="submit" className="btn btn-primary" disabled={!body.trim() || add.isPending}>Add note</button>
        </form>
      )}
    </section>
  );
}
