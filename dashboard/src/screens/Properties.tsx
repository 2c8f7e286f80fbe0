import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { createColumnHelper, flexRender, getCoreRowModel, useReactTable, type VisibilityState } from "@tanstack/react-table";
import { useMemo, useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { api, data, session, type Schemas } from "../api/client";
import { useCan } from "../auth";
import { problem } from "../api/session";
import { AddToCampaign } from "../components/AddToCampaign";
import { ErrorBox, Loading, ScoreBadge } from "../components/ui";
import {
  EMPTY_FILTERS, STATUSES, activeFilterCount, apiQuery, filtersFromSearch, filtersToSearch, fromSavedFilters,
  parseSort, toSavedFilters, toggleSort, type Filters, type SavedFilters, type Status,
} from "../lib/filters";
import {
  countyName, formatCode, formatDate, formatInteger, formatMoney, formatPercent, humanize, propertyTitle,
} from "../lib/format";

type Item = Schemas["PropertyItem"];
const PAGE_SIZE = 50;
const column = createColumnHelper<Item>();

const COLUMNS = [
  column.accessor("address", {
    header: "Address",
    cell: (c) => (
      <Link to={`/properties/${c.row.original.id}`} className="font-medium text-blue-800 underline-offset-2 hover:underline">
        {propertyTitle(c.row.original)}
      </Link>
    ),
  }),
  column.accessor("city", { header: "City", cell: (c) => c.getValue() ?? "—" }),
  column.accessor("zip", { header: "ZIP", cell: (c) => c.getValue() ?? "—" }),
  column.accessor("county", { header: "County", cell: (c) => countyName(c.getValue()) }),
  column.accessor("property_type", { header: "Type", cell: (c) => formatCode(c.getValue()) }),
  column.accessor("status", { header: "Status", cell: (c) => humanize(c.getValue()) }),
  column.accessor("list_price", { header: "Asking", cell: (c) => formatMoney(c.getValue()), meta: { numeric: true } }),
  column.accessor("estimated_value", { header: "Est. value", cell: (c) => formatMoney(c.getValue()), meta: { numeric: true } }),
  column.accessor("value_gap_pct", { header: "Gap", cell: (c) => formatPercent(c.getValue(), true), meta: { numeric: true } }),
  column.accessor("living_sqft", { header: "Sq ft", cell: (c) => formatInteger(c.getValue()), meta: { numeric: true } }),
  column.accessor("year_built", { header: "Built", cell: (c) => c.getValue() ?? "—", meta: { numeric: true } }),
  column.accessor("bird_dog_score", { header: "Score", cell: (c) => <ScoreBadge score={c.getValue()} />, meta: { numeric: true } }),
  column.accessor("first_seen_at", { header: "First seen", cell: (c) => formatDate(c.getValue()) }),
  column.accessor("reviewed_at", { header: "Reviewed", cell: (c) => (c.getValue() ? formatDate(c.getValue()) : "—") }),
];
const HIDDEN_BY_DEFAULT: VisibilityState = { living_sqft: false, year_built: false };

export default function Properties() {
  const [params, setParams] = useSearchParams();
  const filters = useMemo(() => filtersFromSearch(params), [params]);
  const key = filtersToSearch(filters).toString();
  // Cursor pages: the stack of cursors that led here (page 1 has none); new filters start over.
  // Kept with the filters they belong to, so a filter change never sends an old cursor (a cursor
  // belongs to its sort order: the API refuses it with another).
  const [pages, setPages] = useState<{ key: string; cursors: string[] }>({ key, cursors: [] });
  const cursors = pages.key === key ? pages.cursors : [];
  const setCursors = (next: string[]) => setPages({ key, cursors: next });
  const cursor = cursors.at(-1);
  const [visibility, setVisibility] = useState<VisibilityState>(HIDDEN_BY_DEFAULT);
  // Rows ticked for a bulk action: those of the page on screen only (a new page or filter clears them).
  const [selection, setSelection] = useState<{ page: string; ids: number[] }>({ page: "", ids: [] });
  const pageKey = `${key}|${cursor ?? ""}`;
  const selected = selection.page === pageKey ? selection.ids : [];
  const setSelected = (ids: number[]) => setSelection({ page: pageKey, ids });
  const canWrite = useCan("write");

  const page = useQuery({
    queryKey: ["properties", key, cursor],
    queryFn: () => data(api.GET("/api/v1/properties", { params: { query: apiQuery(filters, cursor, PAGE_SIZE) } })),
    placeholderData: keepPreviousData,
  });
  const apply = (next: Filters) => setParams(filtersToSearch(next));
  const sortKeys = parseSort(filters.sort);

  const table = useReactTable({
    data: page.data?.items ?? [],
    columns: COLUMNS,
    getCoreRowModel: getCoreRowModel(),
    manualSorting: true,
    manualPagination: true,
    state: { columnVisibility: visibility },
    onColumnVisibilityChange: setVisibility,
  });

  return (
    <div className="space-y-4">
      <div className="flex flex-wrap items-center justify-between gap-3">
        <h1 className="h1">Properties</h1>
        <div className="flex flex-wrap items-center gap-2">
          <SavedSearches onApply={apply} />
          <ExportButton filters={filters} />
        </div>
      </div>
      <FilterForm key={key} filters={filters} onApply={apply} />
      <div className="flex flex-wrap items-center justify-between gap-2">
        <SaveSearch filters={filters} />
        <ColumnChooser table={table} />
      </div>
      {canWrite && <BulkActions selected={selected} onDone={() => setSelected([])} />}
      {page.isError && <ErrorBox error={page.error} />}
      {/* Focusable: a keyboard can scroll the table sideways on a narrow screen. */}
      <div className="overflow-x-auto rounded-lg border border-slate-200 bg-white" tabIndex={0} role="region" aria-label="Properties table">
        <table className="min-w-full text-sm" aria-busy={page.isFetching}>
          <caption className="sr-only">
            Properties, sorted by {sortKeys.map((k) => `${humanize(k.id)} ${k.desc ? "descending" : "ascending"}`).join(", then ")}.
            Click a column header to sort; shift-click to add a second key.
          </caption>
          <thead className="bg-slate-100 text-left">
            {table.getHeaderGroups().map((group) => (
              <tr key={group.id}>
                {canWrite && (
                  <th scope="col" className="w-8 px-3 py-2">
                    <input type="checkbox" aria-label="Select every property on this page"
                      checked={!!page.data?.items.length && selected.length === page.data.items.length}
                      onChange={(e) => setSelected(e.target.checked ? (page.data?.items ?? []).map((i) => i.id) : [])} />
                  </th>
                )}
                {group.headers.map((header) => {
                  const position = sortKeys.findIndex((k) => k.id === header.column.id);
                  const sorted = position >= 0 ? sortKeys[position] : undefined;
                  const numeric = (header.column.columnDef.meta as { numeric?: boolean } | undefined)?.numeric;
                  return (
                    <th key={header.id} scope="col" className={`whitespace-nowrap px-3 py-2 font-semibold text-slate-700 ${numeric ? "text-right" : ""}`}
                      aria-sort={position === 0 ? (sorted!.desc ? "descending" : "ascending") : undefined}>
                      <button type="button" className="inline-flex items-center gap-1 hover:underline"
                        onClick={(e) => apply({ ...filters, sort: toggleSort(filters.sort, header.column.id, e.shiftKey) })}>
                        {flexRender(header.column.columnDef.header, header.getContext())}
                        <span aria-hidden="true" className="text-xs text-slate-500">
                          {sorted ? `${sorted.desc ? "▼" : "▲"}${sortKeys.length > 1 ? position + 1 : ""}` : "↕"}
                        </span>
                      </button>
                    </th>
                  );
                })}
              </tr>
            ))}
          </thead>
          <tbody className="divide-y divide-slate-100">
            {table.getRowModel().rows.map((row) => (
              <tr key={row.id} className="hover:bg-slate-50">
                {canWrite && (
                  <td className="px-3 py-2">
                    <input type="checkbox" aria-label={`Select ${propertyTitle(row.original)}`}
                      checked={selected.includes(row.original.id)}
                      onChange={(e) => setSelected(e.target.checked ? [...selected, row.original.id]
                        : selected.filter((id) => id !== row.original.id))} />
                  </td>
                )}
                {row.getVisibleCells().map((cell) => {
                  const numeric = (cell.column.columnDef.meta as { numeric?: boolean } | undefined)?.numeric;
                  return (
                    <td key={cell.id} className={`whitespace-nowrap px-3 py-2 ${numeric ? "text-right tabular-nums" : ""}`}>
                      {flexRender(cell.column.columnDef.cell, cell.getContext())}
                    </td>
                  );
                })}
              </tr>
            ))}
          </tbody>
        </table>
        {page.isPending && <Loading label="Loading properties" />}
        {page.data && page.data.items.length === 0 && (
          <p className="p-4 text-sm text-slate-600">No property matches these filters.</p>
        )}
      </div>
      <nav aria-label="Pages" className="flex items-center justify-between">
        <p className="text-sm text-slate-600" aria-live="polite">
          Page {cursors.length + 1} · {page.data?.items.length ?? 0} shown
        </p>
        <div className="flex gap-2">
          <button type="button" className="btn" disabled={!cursors.length} onClick={() => setCursors(cursors.slice(0, -1))}>Previous</button>
          <button type="button" className="btn" disabled={!page.data?.next_cursor}
            onClick={() => page.data?.next_cursor && setCursors([...cursors, page.data.next_cursor])}>Next</button>
        </div>
      </nav>
    </div>
  );
}

function FilterForm({ filters, onApply }: { filters: Filters; onApply: (f: Filters) => void }) {
  const subscriptions = useQuery({ queryKey: ["subscriptions"], queryFn: () => data(api.GET("/api/v1/subscriptions")) });
  const [draft, setDraft] = useState(filters);
  const num = (value: string) => (value === "" ? undefined : Math.max(0, Number(value)));
  const set = (patch: Partial<Filters>) => setDraft({ ...draft, ...patch });
  function submit(event: FormEvent) {
    event.preventDefault();
    onApply({ ...draft, property_type: draft.property_type.map((t) => t.trim()).filter(Boolean) });
  }
  const count = activeFilterCount(filters);
  return (
    <form onSubmit={submit} className="card grid gap-3 sm:grid-cols-2 lg:grid-cols-6" aria-label="Filters">
      <div className="lg:col-span-2">
        <label htmlFor="f-q" className="label">Search address, city or ZIP</label>
        <input id="f-q" type="search" className="input mt-1 w-full" value={draft.q ?? ""} placeholder="e.g. main st 98103"
          onChange={(e) => set({ q: e.target.value || undefined })} />
      </div>
      <div>
        <label htmlFor="f-county" className="label">County</label>
        <select id="f-county" className="input mt-1 w-full" value={draft.county[0] ?? ""}
          onChange={(e) => set({ county: e.target.value ? [e.target.value] : [] })}>
          <option value="">All followed</option>
          {subscriptions.data?.map((s) => <option key={s.county} value={s.county}>{countyName(s.county)}</option>)}
        </select>
      </div>
      <div>
        <label htmlFor="f-type" className="label">Type</label>
        <input id="f-type" className="input mt-1 w-full" value={draft.property_type.join(", ")} placeholder="e.g. single_family"
          onChange={(e) => set({ property_type: e.target.value.split(",") })} />
      </div>
      <fieldset className="lg:col-span-2">
        <legend className="label">Status</legend>
        <div className="mt-1 flex flex-wrap gap-x-3 gap-y-1">
          {STATUSES.map((s) => (
            <label key={s} className="inline-flex items-center gap-1 text-sm">
              <input type="checkbox" checked={draft.status.includes(s)}
                onChange={(e) => set({ status: e.target.checked ? [...draft.status, s] : draft.status.filter((x): x is Status => x !== s) })} />
              {humanize(s)}
            </label>
          ))}
        </div>
      </fieldset>
      <div>
        <label htmlFor="f-reviewed" className="label">Review status</label>
        <select id="f-reviewed" className="input mt-1 w-full"
          value={draft.reviewed === undefined ? "" : String(draft.reviewed)}
          onChange={(e) => set({ reviewed: e.target.value === "" ? undefined : e.target.value === "true" })}>
          <option value="">Any</option>
          <option value="false">Not reviewed</option>
          <option value="true">Reviewed</option>
        </select>
      </div>
      <RangeInputs label="Score" id="score" min={draft.min_score} max={draft.max_score} step={1}
        onChange={(min, max) => set({ min_score: num(min), max_score: num(max) })} />
      <RangeInputs label="Asking price ($)" id="price" min={draft.min_price} max={draft.max_price} step={1000}
        onChange={(min, max) => set({ min_price: num(min), max_price: num(max) })} />
      <RangeInputs label="Estimated value ($)" id="value" min={draft.min_value} max={draft.max_value} step={1000}
        onChange={(min, max) => set({ min_value: num(min), max_value: num(max) })} />
      <div className="flex items-end gap-2 lg:col-span-2">
        <button type="submit" className="btn btn-primary">Apply filters</button>
        {count > 0 && (
          <button type="button" className="btn" onClick={() => onApply({ ...EMPTY_FILTERS, sort: filters.sort })}>
            Clear ({count})
          </button>
        )}
      </div>
    </form>
  );
}

function RangeInputs({ label, id, min, max, step, onChange }: {
  label: string; id: string; min?: number; max?: number; step: number; onChange: (min: string, max: string) => void;
}) {
  return (
    <fieldset>
      <legend className="label">{label}</legend>
      <div className="mt-1 flex items-center gap-1">
        <label htmlFor={`${id}-min`} className="sr-only">{label} from</label>
        <input id={`${id}-min`} type="number" min={0} step={step} className="input w-full" placeholder="min"
          value={min ?? ""} onChange={(e) => onChange(e.target.value, max === undefined ? "" : String(max))} />
        <span aria-hidden="true">–</span>
        <label htmlFor={`${id}-max`} className="sr-only">{label} to</label>
        <input id={`${id}-max`} type="number" min={0} step={step} className="input w-full" placeholder="max"
          value={max ?? ""} onChange={(e) => onChange(min === undefined ? "" : String(min), e.target.value)} />
      </div>
    </fieldset>
  );
}

/** Bulk actions on the ticked rows (roles that may write): mark reviewed or clear the mark. */
function BulkActions({ selected, onDone }: { selected: number[]; onDone: () => void }) {
  const client = useQueryClient();
  const review = useMutation({
    mutationFn: (reviewed: boolean) => data(api.POST("/api/v1/properties/reviews", { body: { property_ids: selected, reviewed } })),
    onSuccess: () => {
      onDone();
      void client.invalidateQueries({ queryKey: ["properties"] });
    },
  });
  return (
    <div className="flex flex-wrap items-center gap-2" role="group" aria-label="Bulk actions">
      <span className="text-sm text-slate-700" aria-live="polite">{selected.length} selected</span>
      <button type="button" className="btn" disabled={!selected.length || review.isPending} onClick={() => review.mutate(true)}>
        Mark reviewed
      </button>
      <button type="button" className="btn" disabled={!selected.length || review.isPending} onClick={() => review.mutate(false)}>
        Remove review mark
      </button>
      {review.isSuccess && (
        <span role="status" className="text-sm text-emerald-800">
          {review.data.reviewed ? "Marked" : "Cleared"} {review.data.changed} of {review.data.property_ids.length}.
        </span>
      )}
      {review.isError && <ErrorBox error={review.error} />}
      <AddToCampaign selected={selected} />
    </div>
  );
}

function ExportButton({ filters }: { filters: Filters }) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  async function download() {
    setBusy(true);
    setError(null);
    try {
      const response = await session.get(`/api/v1/properties/export.csv?${filtersToSearch(filters)}`);
      if (!response.ok) throw await problem(response);
      const url = URL.createObjectURL(await response.blob());
      const link = Object.assign(document.createElement("a"), { href: url, download: "properties.csv" });
      link.click();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }
  return (
    <>
      <button type="button" className="btn" onClick={() => void download()} disabled={busy}>
        {busy ? "Exporting…" : "Export CSV"}
      </button>
      {error !== null && <ErrorBox error={error} />}
    </>
  );
}

function SaveSearch({ filters }: { filters: Filters }) {
  const client = useQueryClient();
  const [name, setName] = useState("");
  const [alert, setAlert] = useState(false);
  const save = useMutation({
    mutationFn: () => data(api.POST("/api/v1/saved-searches", {
      body: { name: name.trim(), alert, filters: toSavedFilters(filters) as Schemas["PropertyFilters"] },
    })),
    onSuccess: () => {
      setName("");
      void client.invalidateQueries({ queryKey: ["saved-searches"] });
    },
  });
  return (
    <form className="flex flex-wrap items-end gap-2" aria-label="Save this search"
      onSubmit={(e) => { e.preventDefault(); if (name.trim()) save.mutate(); }}>
      <div>
        <label htmlFor="save-name" className="label">Save these filters as</label>
        <input id="save-name" className="input mt-1" value={name} maxLength={200} onChange={(e) => setName(e.target.value)} />
      </div>
      <label className="mb-2 inline-flex items-center gap-1 text-sm">
        <input type="checkbox" checked={alert} onChange={(e) => setAlert(e.target.checked)} /> alert me
      </label>
      <button type="submit" className="btn" disabled={!name.trim() || save.isPending}>Save search</button>
      {save.isSuccess && <span role="status" className="mb-2 text-sm text-emerald-800">Saved “{save.data.name}”.</span>}
      {save.isError && <ErrorBox error={save.error} />}
    </form>
  );
}

function SavedSearches({ onApply }: { onApply: (f: Filters) => void }) {
  const saved = useQuery({ queryKey: ["saved-searches"], queryFn: () => data(api.GET("/api/v1/saved-searches")) });
  if (!saved.data?.length) return null;
  return (
    <div>
      <label htmlFor="saved" className="sr-only">Saved searches</label>
      <select id="saved" className="input" value=""
        onChange={(e) => {
          const found = saved.data.find((s) => String(s.id) === e.target.value);
          if (found) onApply(fromSavedFilters(found.filters as SavedFilters));
        }}>
        <option value="">Saved searches…</option>
        {saved.data.map((s) => <option key={s.id} value={s.id}>{s.name}{s.alert ? " (alert)" : ""}</option>)}
      </select>
    </div>
  );
}

function ColumnChooser({ table }: { table: ReturnType<typeof useReactTable<Item>> }) {
  return (
    <details className="relative">
      <summary className="btn cursor-pointer list-none">Columns</summary>
      <div className="absolute right-0 z-10 mt-1 w-48 rounded-md border border-slate-200 bg-white p-2 shadow-lg">
        {table.getAllLeafColumns().map((c) => (
          <label key={c.id} className="flex items-center gap-2 py-0.5 text-sm">
            <input type="checkbox" checked={c.getIsVisible()} onChange={c.getToggleVisibilityHandler()} disabled={c.id === "address"} />
            {typeof c.columnDef.header === "string" ? c.columnDef.header : c.id}
          </label>
        ))}
      </div>
    </details>
  );
}
