import { useQuery } from "@tanstack/react-query";
import { api, data } from "../../api/client";
import { ErrorBox, Loading } from "../../components/ui";
import { formatDateTime, humanize } from "../../lib/format";

const OUTCOMES = [["delivered_at", "delivered"], ["opened_at", "opened"], ["clicked_at", "clicked"],
  ["bounced_at", "bounced"], ["unsubscribed_at", "unsubscribed"]] as const;

/** The tenant's emails that carried this property (single-property emails and digests). */
export function Emails({ propertyId }: { propertyId: number }) {
  const emails = useQuery({
    queryKey: ["property-emails", propertyId],
    queryFn: () => data(api.GET("/api/v1/properties/{property_id}/emails", { params: { path: { property_id: propertyId } } })),
  });
  return (
    <section className="card" aria-labelledby="emails-h">
      <h2 id="emails-h" className="h2">Email history</h2>
      {emails.isPending ? <Loading label="Loading emails" /> : emails.isError ? <ErrorBox error={emails.error} /> :
        emails.data.length === 0 ? <p className="mt-2 text-sm text-slate-600">No email has carried this property yet.</p> : (
          <ol className="mt-2 space-y-3" aria-label="Emails, newest first">
            {emails.data.map((e) => (
              <li key={e.id} className="rounded-md bg-slate-50 p-2 text-sm">
                <p className="font-medium break-words">{e.subject}</p>
                <p className="text-xs text-slate-700 break-words">
                  to {e.recipient_email} · {humanize(e.campaign)}{e.variant ? ` (variant ${e.variant})` : ""}
                </p>
                <p className="mt-1 text-xs text-slate-700">
                  {humanize(e.status)}{e.sent_at ? ` ${formatDateTime(e.sent_at)}` : ""}
                  {OUTCOMES.filter(([k]) => e[k]).map(([k, label]) => (
                    <span key={k} className="ml-2 inline-block rounded bg-white px-1 ring-1 ring-slate-300">{label}</span>
                  ))}
                </p>
              </li>
            ))}
          </ol>
        )}
    </section>
  );
}
