import { useMutation, useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { api, data } from "../api/client";
import { ErrorBox } from "./ui";

/** Bulk action: add the ticked properties to a campaign (POST /campaigns/{id}/properties). A
 * campaign with chosen properties lists only those in its emails. */
export function AddToCampaign({ selected }: { selected: number[] }) {
  const [campaignId, setCampaignId] = useState<number | null>(null);
  const campaigns = useQuery({ queryKey: ["campaigns"], queryFn: () => data(api.GET("/api/v1/campaigns")) });
  const open = (campaigns.data ?? []).filter((c) => c.status !== "archived");
  const add = useMutation({
    mutationFn: (id: number) => data(api.POST("/api/v1/campaigns/{campaign_id}/properties", {
      params: { path: { campaign_id: id } }, body: { property_ids: selected } })),
  });
  const chosen = open.find((c) => c.id === campaignId);
  return (
    <span className="flex flex-wrap items-center gap-2">
      <label htmlFor="bulk-campaign" className="text-sm text-slate-700">Campaign</label>
      <select id="bulk-campaign" className="input" value={campaignId ?? ""}
        onChange={(e) => setCampaignId(e.target.value === "" ? null : Number(e.target.value))}>
        <option value="">Choose…</option>
        {open.map((c) => <option key={c.id} value={c.id}>{c.key}</option>)}
      </select>
      <button type="button" className="btn" disabled={!selected.length || campaignId === null || add.isPending}
        onClick={() => campaignId !== null && add.mutate(campaignId)}>
        Add to campaign
      </button>
      {add.isSuccess && (
        <span role="status" className="text-sm text-slate-700">
          Added {add.data.added} to {chosen?.key ?? "the campaign"} ({add.data.property_count} listed).
        </span>
      )}
      {add.isError && <ErrorBox error={add.error} />}
    </span>
  );
}
