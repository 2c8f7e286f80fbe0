import { useQuery } from "@tanstack/react-query";
import { api, data, type Schemas } from "../../api/client";
import { ErrorBox, Loading } from "../../components/ui";
import { needsReasons, reasonsView, type ReasonsView } from "../../lib/reasons";

/** "Why this score": the reasons the detail carries, else the reasons route's (computed on demand
 * by the API from the models that made the score; asked only when the detail has none). */
export function WhyThisScore({ propertyId, score }: { propertyId: number; score: Schemas["PropertyScore"] }) {
  const ask = needsReasons(score);
  const reasons = useQuery({
    queryKey: ["reasons", propertyId],
    queryFn: () => data(api.GET("/api/v1/properties/{property_id}/reasons", { params: { path: { property_id: propertyId } } })),
    enabled: ask,
    retry: false,
    staleTime: Infinity, // the same score explains the same way
  });
  return <ReasonsBody view={reasonsView(score, ask ? reasons : null)} />;
}

export function ReasonsBody({ view }: { view: ReasonsView }) {
  return (
    <div>
      <h3 className="font-semibold">Why this score</h3>
      {view.kind === "loading" ? <Loading label="Computing the reasons" /> : view.kind === "error" ? (
        <ErrorBox error={view.error} />
      ) : view.kind === "none" ? (
        <p className="mt-1 text-sm text-slate-600">No reasons to state for this score.</p>
      ) : (
        <>
          <ul className="mt-2 list-disc space-y-1 pl-5 text-sm">{view.reasons.map((r) => <li key={r}>{r}</li>)}</ul>
          {view.valueFactors.length > 0 && (
            <details className="mt-2 text-sm">
              <summary className="cursor-pointer text-slate-700">What moves the estimated value ({view.valueFactors.length})</summary>
              <ul className="mt-1 list-disc space-y-1 pl-5">{view.valueFactors.map((f) => <li key={f}>{f}</li>)}</ul>
            </details>
          )}
          {view.computed && <p className="mt-1 text-xs text-slate-600">Computed now from the models that made this score.</p>}
        </>
      )}
    </div>
  );
}
