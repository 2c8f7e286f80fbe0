// Settings › Usage: "Change plan" (a Stripe Checkout) and "Manage billing" (Stripe's portal) for the
// workspace's owners (GET /api/v1/billing). Hidden for everyone else, and when the API answers
// 503 (billing not configured: the platform's operators set plans). The plan itself changes when
// Stripe's webhook says so: back from Stripe (a fresh page load) it shows once the event has arrived.
import { useMutation, useQuery } from "@tanstack/react-query";
import { api, data } from "../api/client";
import { useCan } from "../auth";
import { BillingButtons } from "./BillingButtons";

export function BillingActions() {
  const owner = useCan("owner");
  const view = useQuery({
    queryKey: ["billing"],
    queryFn: () => data(api.GET("/api/v1/billing")),
    enabled: owner,
    retry: false, // a 503 (not configured) is an answer, not a failure to retry
  });
  const go = (url: string) => window.location.assign(url);
  const checkout = useMutation({
    mutationFn: (plan: "free" | "professional" | "enterprise") =>
      data(api.POST("/api/v1/billing/checkout", { body: { plan } })),
    onSuccess: (r) => go(r.url),
  });
  const portal = useMutation({
    mutationFn: () => data(api.POST("/api/v1/billing/portal")),
    onSuccess: (r) => go(r.url),
  });
  if (!owner || !view.data) return null; // loading, 403 or 503: nothing to offer
  return (
    <BillingButtons view={view.data} busy={checkout.isPending || portal.isPending}
      error={checkout.error ?? portal.error}
      onCheckout={(plan) => checkout.mutate(plan as "professional" | "enterprise")}
      onPortal={() => portal.mutate()} />
  );
}
