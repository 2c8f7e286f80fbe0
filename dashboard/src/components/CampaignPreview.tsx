import { useMutation } from "@tanstack/react-query";
import { api, data } from "../api/client";
import { ErrorBox } from "./ui";
import type { CampaignType } from "../lib/campaigns";

type Props = { type: CampaignType; subjects: string[]; intro: string; attachPdf: boolean; maxItems: number };

/** The email a campaign would send, rendered by the API with the send's own template for a sample
 * recipient and property (POST /campaigns/preview). The HTML is shown in a sandboxed frame: no
 * script runs and no link navigates the dashboard. */
export function CampaignPreview({ type, subjects, intro, attachPdf, maxItems }: Props) {
  const preview = useMutation({
    mutationFn: () => data(api.POST("/api/v1/campaigns/preview", {
      body: { type, subjects, intro, attach_pdf: attachPdf, max_items: maxItems } })),
  });
  return (
    <section className="mt-4 border-t border-slate-200 pt-4" aria-labelledby="preview-h">
      <div className="flex flex-wrap items-center justify-between gap-2">
        <h3 id="preview-h" className="font-semibold">Preview</h3>
        <button type="button" className="btn" disabled={subjects.length === 0 || preview.isPending}
          onClick={() => preview.mutate()}>
          {preview.isSuccess ? "Refresh preview" : "Preview email"}
        </button>
      </div>
      {preview.isError && <ErrorBox error={preview.error} />}
      {preview.data && (
        <div className="mt-2 space-y-2">
          <p className="text-sm text-slate-700">
            To {preview.data.recipient_name} &lt;{preview.data.recipient_email}&gt;, {preview.data.items}{" "}
            {preview.data.items === 1 ? "property" : "properties"}
            {preview.data.attachment ? `, attachment ${preview.data.attachment}` : ""}.
          </p>
          <ul className="text-sm" aria-label="Subject variants">
            {preview.data.subjects.map((s) => (
              <li key={s.variant}><span className="font-medium">Variant {s.variant}:</span> {s.subject}</li>
            ))}
          </ul>
          <iframe title="Email preview" sandbox="" srcDoc={preview.data.html}
            className="h-[32rem] w-full rounded border border-slate-200 bg-white" />
        </div>
      )}
    </section>
  );
}
