// Settings › Branding: the workspace's name, colour, logo and sender on its memos and emails
// (GET/PATCH /tenant/settings, tenant admin). An empty field keeps the installation's value,
// shown as the placeholder; the API validates the result as a sendable sender.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { api, data, type Schemas } from "../../api/client";
import { useCan } from "../../auth";
import { humanize } from "../../lib/format";
import { ErrorBox, Loading } from "../ui";

const KEY = ["tenant-settings"];
type View = Schemas["TenantSettingsView"];
const FIELDS = [
  { key: "display_name", label: "Company name", effective: "company", type: "text" },
  { key: "brand_color", label: "Brand colour (#rrggbb)", effective: "color", type: "text" },
  { key: "logo_url", label: "Logo URL (https)", effective: "logo_url", type: "url" },
  { key: "tagline", label: "Tagline", effective: "tagline", type: "text" },
  { key: "from_name", label: "From name", effective: "from_name", type: "text" },
  { key: "from_email", label: "From address", effective: "from_email", type: "email" },
  { key: "reply_to", label: "Reply-to address", effective: "reply_to", type: "email" },
  { key: "postal_address", label: "Postal address (in every email)", effective: "postal_address", type: "text" },
] as const;
type Field = (typeof FIELDS)[number]["key"];

function formOf(view: View): Record<Field, string> {
  return Object.fromEntries(FIELDS.map((f) => [f.key, view[f.key] ?? ""])) as Record<Field, string>;
}

export function BrandingSettings() {
  const isAdmin = useCan("admin");
  const client = useQueryClient();
  const settings = useQuery({ queryKey: KEY, queryFn: () => data(api.GET("/api/v1/tenant/settings")), enabled: isAdmin });
  const [form, setForm] = useState<Record<Field, string> | null>(null);
  useEffect(() => { if (settings.data) setForm(formOf(settings.data)); }, [settings.data]);
  const save = useMutation({
    mutationFn: (body: Schemas["TenantSettingsUpdate"]) => data(api.PATCH("/api/v1/tenant/settings", { body })),
    onSuccess: (saved) => client.setQueryData(KEY, saved),
  });
  const view = settings.data;
  if (!isAdmin) return null; // branding and sender are a tenant admin's
  const submit = () => {
    if (!form) return;
    save.mutate(Object.fromEntries(FIELDS.map((f) => [f.key, form[f.key].trim() || null])) as Schemas["TenantSettingsUpdate"]);
  };
  return (
    <section className="card" aria-labelledby="branding-h">
      <h2 id="branding-h" className="h2">Branding</h2>
      <p className="mt-1 text-sm text-slate-600">On this workspace's memos and emails. Empty fields use the installation's value shown in grey.</p>
      {!view || !form ? (settings.isError ? <ErrorBox error={settings.error} /> : <Loading />) : (
        <>
          <form className="mt-3 grid gap-3 sm:grid-cols-2" onSubmit={(e) => { e.preventDefault(); submit(); }}>
            {FIELDS.map((f) => (
              <div key={f.key}>
                <label htmlFor={`brand-${f.key}`} className="label">{f.label}</label>
                <input id={`brand-${f.key}`} type={f.type} className="input mt-1 w-full" value={form[f.key]}
                  placeholder={String(view.effective[f.effective] ?? "")}
                  onChange={(e) => setForm({ ...form, [f.key]: e.target.value })} />
              </div>
            ))}
            <div className="sm:col-span-2 flex items-center gap-3">
              <button type="submit" className="btn btn-primary" disabled={save.isPending}>Save branding</button>
              {save.isSuccess && <span role="status" className="text-sm text-emerald-800">Saved.</span>}
            </div>
          </form>
          <fieldset className="mt-4 space-y-1 text-sm">
            <legend className="font-semibold">Features</legend>
            {Object.entries(view.flags).map(([name, flag]) => (
              <label key={name} className="flex items-center gap-2">
                <input type="checkbox" checked={Boolean(flag.enabled)} disabled={save.isPending}
                  onChange={(e) => save.mutate({ feature_flags: { [name]: e.target.checked } })} />
                <span><span className="font-medium">{humanize(name)}</span>: {String(flag.description)}</span>
              </label>
            ))}
          </fieldset>
          <div className="mt-4 rounded-md border border-slate-200 p-3 text-sm" aria-label="Email header preview">
            <div className="rounded px-3 py-2 text-white" style={{ background: String(view.effective.color) }}>
              <span className="font-bold">{String(view.effective.company)}</span>
            </div>
            <p className="mt-2 text-slate-700">
              From {String(view.effective.from_name)} &lt;{String(view.effective.from_email)}&gt; · {String(view.effective.postal_address)}
            </p>
          </div>
        </>
      )}
      {save.isError && <ErrorBox error={save.error} />}
    </section>
  );
}
