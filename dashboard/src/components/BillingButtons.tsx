// The owner's billing buttons (BillingActions fetches and acts; this only draws, so Vitest renders it
// without the API client).
import { billingActions, type BillingView } from "../lib/billing";
import { ErrorBox } from "./ui";

export function BillingButtons({ view, busy, error, onCheckout, onPortal }: {
  view: BillingView; busy: boolean; error: unknown;
  onCheckout: (plan: string) => void; onPortal: () => void;
}) {
  const actions = billingActions(view);
  if (!actions.changeTo.length && !actions.manage) return null;
  return (
    <div className="mt-3 space-y-2" data-testid="billing">
      {actions.status && <p className="text-sm text-slate-700">{actions.status}</p>}
      <div className="flex flex-wrap gap-2">
        {actions.changeTo.map((p) => (
          <button key={p.name} type="button" className="btn btn-primary" disabled={busy} onClick={() => onCheckout(p.name)}>
            Change plan to {p.title}
          </button>
        ))}
        {actions.manage && (
          <button type="button" className="btn" disabled={busy} onClick={onPortal}>Manage billing</button>
        )}
      </div>
      {error ? <ErrorBox error={error} /> : null}
    </div>
  );
}
