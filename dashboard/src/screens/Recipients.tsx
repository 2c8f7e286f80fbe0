import { useInfiniteQuery, useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router-dom";
import { api, data } from "../api/client";
import { useCan } from "../auth";
import { ErrorBox, Loading } from "../components/ui";
import { countyName, formatScore, humanize } from "../lib/format";

const CSV_HINT = "name,email,counties,min_score,property_types,budget_min,budget_max,campaigns";

export default function Recipients() {
  const canWrite = useCan("write");
  const client = useQueryClient();
  const [q, setQ] = useState("");
  const [search, setSearch] = useState("");
  const recipients = useInfiniteQuery({
    queryKey: ["recipients", search],
    queryFn: ({ pageParam }) => data(api.GET("/api/v1/recipients", {
      params: { query: { limit: 50, cursor: pageParam ?? undefined, q: search || undefined } } })),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor,
  });
  const remove = useMutation({
    mutationFn: (id: number) => data(api.DELETE("/api/v1/recipients/{recipient_id}", { params: { path: { recipient_id: id } } })),
    onSuccess: () => void client.invalidateQueries({ queryKey: ["recipients"] }),
  });
  const items = recipients.data?.pages.flatMap((p) => p.items) ?? [];
  return (
    <div className="space-y-6">
      <div className="flex flex-wrap items-center justify-between gap-2">
        <h1 className="h1">Recipients</h1>
        <Link className="btn" to="/campaigns">Campaigns</Link>
      </div>
      {canWrite && <Import />}
      <section className="card" aria-labelledby="recipients-h">
        <h2 id="recipients-h" className="h2">Everyone who may receive emails</h2>
        <form className="mt-2 flex items-end gap-2" role="search" onSubmit={(e) => { e.preventDefault(); setSearch(q.trim()); }}>
          <div>
            <label htmlFor="r-q" className="label">Name or address</label>
            <input id="r-q" className="input mt-1" value={q} maxLength={200} onChange={(e) => setQ(e.target.value)} />
          </div>
          <button type="submit" className="btn">Search</button>
        </form>
        {recipients.isPending ? <Loading /> : recipients.isError ? <ErrorBox error={recipients.error} /> : (
          <div className="overflow-x-auto">
            <table className="mt-3 w-full text-sm">
              <caption className="sr-only">Recipients and their segments</caption>
              <thead className="text-left text-xs uppercase tracking-wide text-slate-600">
                <tr>
                  <th scope="col">Name</th><th scope="col">Email</th><th scope="col">Counties</th><th scope="col">Min score</th>
                  <th scope="col">Campaigns</th><th scope="col">Opted out</th>
                  {canWrite && <th scope="col"><span className="sr-only">Actions</span></th>}
                </tr>
              </thead>
              <tbody className="divide-y divide-slate-100">
                {items.length === 0 && <tr><td colSpan={7} className="py-2 text-slate-600">No recipient yet.</td></tr>}
                {items.map((r) => (
                  <tr key={r.id}>
                    <td className="py-1.5">{r.name}</td>
                    <td className="py-1.5">{r.email}</td>
                    <td className="py-1.5">{r.counties?.length ? r.counties.map(countyName).join("; ") : "Every county"}</td>
                    <td className="py-1.5 tabular-nums">{formatScore(r.min_score)}</td>
                    <td className="py-1.5">{(r.campaigns ?? []).map(humanize).join(", ")}</td>
                    <td className="py-1.5">{r.suppressed ? "Yes" : "No"}</td>
                    {canWrite && (
                      <td className="py-1.5 text-right">
                        <button type="button" className="btn btn-danger" disabled={remove.isPending}
                          onClick={() => { if (window.confirm(`Remove ${r.email}? Their past emails and any opt-out stay.`)) remove.mutate(r.id); }}>
                          Remove<span className="sr-only"> {r.email}</span>
                        </button>
                      </td>
                    )}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        {recipients.hasNextPage && (
          <button type="button" className="btn mt-3" disabled={recipients.isFetchingNextPage} onClick={() => void recipients.fetchNextPage()}>
            More
          </button>
        )}
        {remove.isError && <ErrorBox error={remove.error} />}
      </section>
    </div>
  );
}

/** CSV import: good rows go in, bad rows come back with their line and reasons (nothing lost). */
function Import() {
  const client = useQueryClient();
  const [text, setText] = useState("");
  const upload = useMutation({
    mutationFn: () => data(api.POST("/api/v1/recipients/import", {
      // The body is the CSV itself, not JSON.
      body: text as never, bodySerializer: (body: unknown) => body as string, headers: { "content-type": "text/csv" } })),
    onSuccess: () => void client.invalidateQueries({ queryKey: ["recipients"] }),
  });
  return (
    <section className="card" aria-labelledby="import-h">
      <h2 id="import-h" className="h2">Import from CSV</h2>
      <p className="mt-1 text-sm text-slate-700">
        Columns: <code>{CSV_HINT}</code>. Lists separated by <code>;</code>. An address already here is updated; the same
        file twice changes nothing.
      </p>
      <div className="mt-2 flex flex-wrap items-end gap-3">
        <div>
          <label htmlFor="csv-file" className="label">File</label>
          <input id="csv-file" type="file" accept=".csv,text/csv" className="mt-1 text-sm"
            onChange={(e) => { const f = e.target.files?.[0]; if (f) void f.text().then(setText); }} />
        </div>
      </div>
      <label htmlFor="csv-text" className="label mt-3">Or paste it</label>
      <textarea id="csv-text" className="input mt-1 w-full font-mono" rows={4} value={text} onChange={(e) => setText(e.target.value)} />
      <button type="button" className="btn btn-primary mt-2" disabled={!text.trim() || upload.isPending} onClick={() => upload.mutate()}>
        Import
      </button>
      {upload.isError && <div className="mt-2"><ErrorBox error={upload.error} /></div>}
      {upload.data && (
        <div role="status" className="mt-3 text-sm" data-testid="import-result">
          <p>
            {upload.data.rows} rows: {upload.data.created} added, {upload.data.updated} updated, {upload.data.unchanged} unchanged,{" "}
            {upload.data.rejected.length} rejected.
          </p>
          {upload.data.rejected.length > 0 && (
            <table className="mt-2 w-full">
              <caption className="text-left font-semibold">Rows not imported</caption>
              <thead className="text-left text-xs uppercase tracking-wide text-slate-600">
                <tr><th scope="col">Line</th><th scope="col">Email</th><th scope="col">Why</th></tr>
              </thead>
              <tbody className="divide-y divide-slate-100">
                {upload.data.rejected.map((r) => (
                  <tr key={r.line}><td className="py-1">{r.line}</td><td className="py-1">{r.email ?? "—"}</td><td className="py-1">{r.errors.join("; ")}</td></tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
      )}
    </section>
  );
}
