import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router-dom";
import { api, data, type Schemas } from "../../api/client";
import { ApiError } from "../../api/session";
import { ErrorBox, Loading, ScoreBadge } from "../../components/ui";
import { countyName, formatMoney, propertyTitle } from "../../lib/format";

export type SimilarScope = Schemas["SearchRequest"]["scope"];

/** The search body: the property's own county, or every county the tenant follows (the API then
 * compares the features all counties measure alike, on one scale: the county vectors are
 * county-relative and are not compared across counties). */
export function similarBody(propertyId: number, scope: SimilarScope): Schemas["SearchRequest"] {
  return { similar_to: propertyId, limit: 6, sort: "-bird_dog_score", scope };
}

/** The most similar properties (features vectors in Qdrant). The store can be busy while a run
 * writes it (local mode: one process at a time): the API says 503 and so does this card. */
export function Similar({ propertyId, initialScope = "county" }: { propertyId: number; initialScope?: SimilarScope }) {
  const [scope, setScope] = useState<SimilarScope>(initialScope);
  const similar = useQuery({
    queryKey: ["similar", propertyId, scope],
    queryFn: () => data(api.POST("/api/v1/properties/search", { body: similarBody(propertyId, scope) })),
    retry: false,
  });
  const unavailable = similar.error instanceof ApiError && [404, 503].includes(similar.error.status);
  const across = scope === "followed";
  return (
    <section className="card" aria-labelledby="similar-h">
      <div className="flex items-center justify-between gap-2">
        <h2 id="similar-h" className="h2">Similar properties</h2>
        <label className="flex items-center gap-1 text-xs text-slate-700">
          <input type="checkbox" checked={across} onChange={(e) => setScope(e.target.checked ? "followed" : "county")} />
          in all my counties
        </label>
      </div>
      {similar.isPending ? <Loading label="Finding similar properties" /> : unavailable ? (
        <p className="mt-2 text-sm text-slate-600">Not available right now: {(similar.error as ApiError).detail}</p>
      ) : similar.isError ? <ErrorBox error={similar.error} /> : similar.data.items.length === 0 ? (
        <p className="mt-2 text-sm text-slate-600">{across ? "No similar property in your counties." : "No similar property in this county."}</p>
      ) : (
        <ol className="mt-2 divide-y divide-slate-100" aria-label="Most similar first">
          {similar.data.items.map((p) => (
            <li key={p.id} className="flex items-center justify-between gap-2 py-1.5 text-sm">
              <span className="min-w-0">
                <Link to={`/properties/${p.id}`} className="font-medium text-blue-800 underline-offset-2 hover:underline break-words">
                  {propertyTitle(p)}
                </Link>
                <span className="block text-xs text-slate-600">
                  {across ? `${countyName(p.county)} · ` : ""}{formatMoney(p.estimated_value)} est. · {p.similarity != null ? `${Math.round(p.similarity * 100)}% similar` : ""}
                </span>
              </span>
              <ScoreBadge score={p.bird_dog_score} />
            </li>
          ))}
        </ol>
      )}
      {across && <p className="mt-1 text-xs text-slate-500">Across counties: size, rooms, age and price on one scale (location and grade left out).</p>}
    </section>
  );
}
