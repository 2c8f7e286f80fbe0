import { useQuery } from "@tanstack/react-query";
import { Link, useParams } from "react-router-dom";
import { api, data } from "../api/client";
import { ActivateButton } from "../components/ModelActions";
import { ErrorBox, Loading } from "../components/ui";
import { countyName, formatDate, formatDateTime, formatInteger, formatValue, humanize } from "../lib/format";
import { HEADLINE, formatFigure, promotionText, statusLabel } from "../lib/models";

export default function ModelDetail() {
  const id = Number(useParams().id);
  const model = useQuery({
    queryKey: ["model", id],
    queryFn: () => data(api.GET("/api/v1/models/{model_id}", { params: { path: { model_id: id } } })),
    enabled: Number.isInteger(id),
  });
  if (model.isPending) return <Loading label="Loading model" />;
  if (model.isError) return <ErrorBox error={model.error} />;
  const m = model.data;
  const importance = Object.entries(m.importance);
  const top = Math.max(...importance.map(([, v]) => v), 0);
  const scalar = Object.entries(m.metrics).filter(([k, v]) => k !== "importance" && (typeof v === "number" || typeof v === "string"));
  return (
    <article className="space-y-6" aria-labelledby="title">
      <div>
        <Link to="/models" className="text-sm text-blue-800 underline">← Models</Link>
        <h1 id="title" className="h1 mt-1">{m.model_name} {m.version}</h1>
        <p className="text-slate-700">
          {countyName(m.county)} · {humanize(m.kind)} · {humanize(statusLabel(m.status, m.is_active))} · trained{" "}
          {formatDate(m.training_start)} – {formatDate(m.training_end)} on {formatInteger(m.training_rows)} rows; hold-out from{" "}
          {formatDate(m.holdout_start)} · created {formatDateTime(m.created_at)}
        </p>
      </div>
      <dl className="grid grid-cols-2 gap-4 md:grid-cols-4">
        {HEADLINE.filter((h) => m.headline[h.key] !== undefined).map((h) => (
          <div key={h.key} className="card">
            <dt className="label">{h.label}</dt>
            <dd className="text-2xl font-semibold tabular-nums">{formatFigure(m.headline[h.key], h.unit, h.share)}</dd>
            <dd className="text-xs text-slate-600">{h.better === "one" ? "best near 1" : `${h.better} is better`}</dd>
          </div>
        ))}
      </dl>
      <div className="grid gap-6 lg:grid-cols-2">
        <section className="card" aria-labelledby="imp-h">
          <h2 id="imp-h" className="h2">Feature importance</h2>
          <p className="text-xs text-slate-600">Share of the model's split gain per feature.</p>
          {importance.length === 0 ? <p className="mt-2 text-sm text-slate-600">Not recorded for this version.</p> : (
            <table className="mt-3 w-full text-sm">
              <caption className="sr-only">Feature importance, largest first</caption>
              <tbody>
                {importance.map(([name, share]) => (
                  <tr key={name}>
                    <th scope="row" className="w-40 py-1 pr-2 text-left font-normal">{humanize(name)}</th>
                    <td className="py-1">
                      <div className="h-3 rounded bg-blue-800" style={{ width: `${top ? (100 * share) / top : 0}%` }} aria-hidden="true" />
                    </td>
                    <td className="w-16 py-1 pl-2 text-right tabular-nums">{(share * 100).toFixed(1)}%</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
        <section className="card space-y-3" aria-labelledby="promo-h">
          <h2 id="promo-h" className="h2">Promotion</h2>
          <p className="text-sm">
            {promotionText(m.promotion)}
          </p>
          {!m.is_active && <ActivateButton modelId={m.id} label={`${m.model_name} ${m.version}`} />}
          <h3 className="font-semibold">All hold-out figures</h3>
          <dl className="grid grid-cols-2 gap-x-4 gap-y-1 text-sm">
            {scalar.map(([k, v]) => (
              <div key={k} className="contents">
                <dt className="text-slate-700">{k}</dt>
                <dd className="text-right tabular-nums">{formatValue(v)}</dd>
              </div>
            ))}
          </dl>
        </section>
      </div>
    </article>
  );
}
