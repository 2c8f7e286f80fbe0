import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router-dom";
import { api, data } from "../api/client";
import { ActivateButton, RetrainPanel } from "../components/ModelActions";
import { ErrorBox, Loading } from "../components/ui";
import { useCan } from "../auth";
import { countyName, formatDate, formatInteger, humanize } from "../lib/format";
import { HEADLINE, formatFigure, promotionText, statusLabel } from "../lib/models";

export default function Models() {
  const models = useQuery({ queryKey: ["models"], queryFn: () => data(api.GET("/api/v1/models")) });
  const isPlatform = useCan("platform");
  const shown = HEADLINE.filter((h) => models.data?.some((m) => m.headline[h.key] !== undefined));
  return (
    <div className="space-y-4">
      <h1 className="h1">Models</h1>
      <p className="text-sm text-slate-700">
        Every version trained for the counties you follow, with its figures on the hold-out period it never saw.
        MdAPE: median absolute error of the value estimate; PE10: share within 10%; COD and PRD: the assessors' uniformity
        and regressivity measures; AUC and Brier for the deal classifier.
      </p>
      {models.isPending ? <Loading /> : models.isError ? <ErrorBox error={models.error} /> : models.data.length === 0 ? (
        <p className="text-sm text-slate-600">No model has been trained for the followed counties yet.</p>
      ) : (
        <div className="overflow-x-auto rounded-lg border border-slate-200 bg-white">
          <table className="min-w-full text-sm">
            <caption className="sr-only">Model versions with hold-out figures</caption>
            <thead className="bg-slate-100 text-left">
              <tr>
                {["Model", "County", "Kind", "Status", "Promotion", "Trained on", "Rows"].map((h) => <th key={h} scope="col" className="px-3 py-2">{h}</th>)}
                {shown.map((h) => <th key={h.key} scope="col" className="px-3 py-2 text-right">{h.label}</th>)}
                {isPlatform && <th scope="col" className="px-3 py-2"><span className="sr-only">Actions</span></th>}
              </tr>
            </thead>
            <tbody className="divide-y divide-slate-100">
              {models.data.map((m) => (
                <tr key={m.id}>
                  <td className="px-3 py-2">
                    <Link to={`/models/${m.id}`} className="font-medium text-blue-800 underline-offset-2 hover:underline">
                      {m.model_name}
                    </Link>
                    <div className="font-mono text-xs text-slate-600">{m.version}</div>
                  </td>
                  <td className="px-3 py-2">{countyName(m.county)}</td>
                  <td className="px-3 py-2">{humanize(m.kind)}</td>
                  <td className="px-3 py-2">
                    {m.is_active ? <span className="rounded bg-emerald-100 px-1.5 py-0.5 text-xs font-semibold text-emerald-900">{humanize(statusLabel(m.status, true))}</span> : humanize(m.status)}
                  </td>
                  <td className="max-w-xs px-3 py-2 text-xs text-slate-700">{promotionText(m.promotion)}</td>
                  <td className="whitespace-nowrap px-3 py-2">{formatDate(m.training_start)} – {formatDate(m.training_end)}</td>
                  <td className="px-3 py-2 text-right tabular-nums">{formatInteger(m.training_rows)}</td>
                  {shown.map((h) => <td key={h.key} className="px-3 py-2 text-right tabular-nums">{formatFigure(m.headline[h.key], h.unit, h.share)}</td>)}
                  {isPlatform && <td className="px-3 py-2">{!m.is_active && <ActivateButton modelId={m.id} label={`${m.model_name} ${m.version}`} />}</td>}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <RetrainPanel />
    </div>
  );
}
