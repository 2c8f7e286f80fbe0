"""`packets` (investor memo PDFs in the object store) and `emails` (sent once, never suppressed)."""


import hashlib
import os
from datetime import UTC, datetime

import dagster as dg
import pandas as pd

from realestate_assets.assets.common import OWNERS, check, county_of, partition_params, table_metadata, tenant
from realestate_assets.config_models import load_outreach, load_scoring
from realestate_assets.db.warehouse import advance_status, sync_partition
from realestate_assets.docs.context import MEMO_ROWS_SQL, memo_context
from realestate_assets.docs.memo import TEMPLATE_VERSIONS, inputs_hash, render_pdf
from realestate_assets.outreach.messages import (
    CAMPAIGN_NEW_OPPORTUNITY,
    build_memo_email,
    unsubscribe_token,
    unsubscribe_url,
)
from realestate_assets.settings import state_dir
from resources import MailerResource, ObjectStoreResource, WarehouseResource

TEMPLATE = "investor_memo"


def build(partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    @dg.asset(
        partitions_def=partitions,
        group_name="outreach",
        kinds={"pdf", "postgres"},
        owners=OWNERS,
        deps=["scores"],
        automation_condition=dg.AutomationCondition.eager(),
        description="An investor memo PDF (Jinja2 → WeasyPrint) for each property scoring at or above "
                    "the packet threshold, stored in the object store. Regenerated only when its "
                    "inputs or the template version change.",
        check_specs=[
            dg.AssetCheckSpec("packet_files_match_checksums", asset="packets", blocking=True,
                              description="every packet's object exists and its sha256 matches"),
            dg.AssetCheckSpec("every_candidate_has_a_packet", asset="packets"),
        ],
        tags={"stage": "packets"},
    )
    def packets(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                object_store: ObjectStoreResource) -> dg.MaterializeResult:
        county = county_of(context)
        wh, store = warehouse.get(), object_store.get()
        params = partition_params(context)
        threshold = load_scoring().packet_threshold
        sender = load_outreach().sender
        rows = wh.frame(MEMO_ROWS_SQL, {**params, "threshold": threshold})
        existing = wh.frame("SELECT prospect_key, inputs_hash, object_path, sha256, size_bytes, generated_at "
                            "FROM packets WHERE tenant_id = :tenant AND county = :county AND template = :t",
                            {**params, "t": TEMPLATE}).set_index("prospect_key")
        records, rendered = [], 0
        for _, row in rows.iterrows():
            memo = memo_context(row, county, sender.name)
            digest = inputs_hash(TEMPLATE, memo)
            key = row["prospect_key"]
            previous = existing.loc[key] if key in existing.index else None
            if previous is not None and previous["inputs_hash"] == digest and store.exists(previous["object_path"]):
                records.append({"prospect_key": key, **previous.to_dict(),
                                "bird_dog_score": row["bird_dog_score"]})
                continue
            path = f"packets/{county.key}/{key}/{TEMPLATE}-v{TEMPLATE_VERSIONS[TEMPLATE]}-{digest[:12]}.pdf"
            stored = store.put(path, render_pdf(TEMPLATE, memo), "application/pdf")
            rendered += 1
            records.append({"prospect_key": key, "inputs_hash": digest, "object_path": stored.key,
                            "sha256": stored.sha256, "size_bytes": stored.size_bytes,
                            "generated_at": datetime.now(UTC), "bird_dog_score": row["bird_dog_score"]})
        frame = pd.DataFrame(records, columns=["prospect_key", "inputs_hash", "object_path", "sha256",
                                               "size_bytes", "generated_at", "bird_dog_score"])
        frame["template"] = TEMPLATE
        frame["template_version"] = TEMPLATE_VERSIONS[TEMPLATE]
        with wh.transaction() as conn:
            # Packets are history (emails point at them): upsert, never delete.
            sync_partition(conn, "packets", frame, tenant_id=tenant(), county=county.key,
                           keys=["prospect_key", "template"], delete_missing=False)
            advance_status(conn, tenant_id=tenant(), county=county.key, status="packeted",
                           keys=frame["prospect_key"].tolist())
        all_packets = wh.frame("SELECT object_path, sha256 FROM packets WHERE tenant_id = :tenant "
                               "AND county = :county", params)
        mismatched = [p.object_path for p in all_packets.itertuples()
                      if not store.exists(p.object_path)
                      or hashlib.sha256(store.get(p.object_path)).hexdigest() != p.sha256]
        return dg.MaterializeResult(
            metadata=table_metadata(
                wh, "packets", len(all_packets),
                lineage={"bird_dog_score": [("scores", "bird_dog_score")]},
                current_packets=len(frame), rendered_this_run=rendered,
                reused_unchanged=len(frame) - rendered, threshold=threshold,
                template=f"{TEMPLATE} v{TEMPLATE_VERSIONS[TEMPLATE]}",
                example=frame["object_path"].iloc[0] if len(frame) else "none"),
            check_results=[
                check("packet_files_match_checksums", not mismatched,
                      f"{len(all_packets) - len(mismatched)} of {len(all_packets)} objects match",
                      mismatched=dg.MetadataValue.json(mismatched[:20])),
                check("every_candidate_has_a_packet", len(frame) == len(rows),
                      f"{len(frame)} packets for {len(rows)} properties at or above {threshold:g}"),
            ],
        )

    @dg.asset(
        partitions_def=partitions,
        group_name="outreach",
        kinds={"email", "postgres"},
        owners=OWNERS,
        deps=[packets],
        automation_condition=dg.AutomationCondition.eager(),
        description="For each current packet and each recipient whose filters match, one email with "
                    "the memo attached, a postal-address footer and one-click unsubscribe. Keyed by "
                    "(campaign, packet, recipient): never sent twice; never to a suppressed address.",
        check_specs=[
            dg.AssetCheckSpec("no_email_to_suppressed_address", asset="emails", blocking=True),
            dg.AssetCheckSpec("no_email_left_unsent", asset="emails",
                              description="no email of this county stuck in pending/sending/failed"),
        ],
        tags={"stage": "emails"},
    )
    def emails(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
               object_store: ObjectStoreResource, mailer: MailerResource) -> dg.MaterializeResult:
        county = county_of(context)
        wh, store, outbox = warehouse.get(), object_store.get(), mailer.get()
        params = partition_params(context)
        outreach = load_outreach()
        secret = unsubscribe_secret()
        current = wh.frame(
            "SELECT k.id AS packet_id, k.prospect_key, k.object_path, k.bird_dog_score, s.estimated_value, "
            "s.value_gap_pct, p.parcel_id FROM packets k "
            "JOIN scores s USING (tenant_id, county, prospect_key) "
            "JOIN prospects p USING (tenant_id, county, prospect_key) "
            "WHERE k.tenant_id = :tenant AND k.county = :county AND s.bird_dog_score >= :threshold "
            "AND k.template = 'investor_memo' ORDER BY s.score_rank",
            {**params, "threshold": load_scoring().packet_threshold})
        counts = {"sent": 0, "already_sent": 0, "suppressed": 0, "reconciled": 0}
        for packet in current.itertuples():
            for recipient in outreach.recipients:
                if not recipient.wants(county.key, packet.bird_dog_score):
                    continue
                outcome = deliver_once(wh, outbox, store, packet, recipient, outreach.sender, county, secret)
                counts[outcome] += 1
        with wh.transaction() as conn:
            advance_status(conn, tenant_id=tenant(), county=county.key, status="emailed",
                           keys=wh.frame("SELECT DISTINCT k.prospect_key FROM emails e JOIN packets k "
                                         "ON k.id = e.packet_id WHERE e.tenant_id = :tenant AND "
                                         "e.county = :county AND e.status = 'sent'", params)["prospect_key"].tolist())
        summary = wh.frame(
            "SELECT status, count(*) AS n FROM emails WHERE tenant_id = :tenant AND county = :county "
            "GROUP BY status", params).set_index("status")["n"].to_dict()
        suppressed_sent = wh.scalar(
            "SELECT count(*) FROM emails e JOIN suppressions s ON s.tenant_id = e.tenant_id "
            "AND s.email = lower(e.recipient_email) WHERE e.tenant_id = :tenant AND e.county = :county "
            "AND e.status = 'sent' AND e.sent_at >= s.created_at", params)
        stuck = sum(v for k, v in summary.items() if k in ("pending", "sending", "failed"))
        return dg.MaterializeResult(
            metadata=table_metadata(
                wh, "emails", sum(summary.values()),
                lineage={"packet_id": [("packets", "id")]},
                **{f"{k}_this_run": v for k, v in counts.items()},
                status_counts=dg.MetadataValue.json({k: int(v) for k, v in summary.items()}),
                provider=outbox.provider),
            check_results=[
                check("no_email_to_suppressed_address", suppressed_sent == 0,
                      f"{suppressed_sent} emails sent to an address after it was suppressed"),
                check("no_email_left_unsent", stuck == 0, f"{stuck} emails pending, sending or failed",
                      severity="WARN"),
            ],
        )

    return [packets, emails]


def unsubscribe_secret() -> str:
    """REOS_UNSUBSCRIBE_SECRET in production; a per-installation random secret locally."""
    secret = os.environ.get("REOS_UNSUBSCRIBE_SECRET")
    if secret:
        return secret
    path = state_dir() / "unsubscribe.secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(os.urandom(32).hex())
        path.chmod(0o600)
    return path.read_text().strip()


def deliver_once(wh, outbox, store, packet, recipient, sender, county, secret) -> str:
    """Outbox pattern: claim the (campaign, packet, recipient) row, send, then mark it sent.

    The unique key makes a second claim impossible; a row left `sending` by a crash is
    reconciled against the provider (the outbox file) before anything is sent again.
    """
    address = recipient.email.lower()
    subject = (f"Off-market lead: parcel {packet.parcel_id} scores {packet.bird_dog_score:.0f} "
               f"({county.name}, {county.state})")
    with wh.transaction() as conn, conn.cursor() as cur:
        cur.execute("SELECT 1 FROM suppressions WHERE tenant_id = %s AND email = %s", (tenant(), address))
        if cur.fetchone():
            return "suppressed"
        cur.execute(
            "INSERT INTO emails (tenant_id, county, campaign, packet_id, recipient_email, subject, status, "
            "provider) VALUES (%s, %s, %s, %s, %s, %s, 'sending', %s) "
            "ON CONFLICT (tenant_id, campaign, packet_id, recipient_email) DO NOTHING RETURNING id",
            (tenant(), county.key, CAMPAIGN_NEW_OPPORTUNITY, packet.packet_id, address, subject,
             outbox.provider))
        claimed = cur.fetchone()
        if claimed is None:
            cur.execute("SELECT id, status FROM emails WHERE tenant_id = %s AND campaign = %s AND "
                        "packet_id = %s AND recipient_email = %s",
                        (tenant(), CAMPAIGN_NEW_OPPORTUNITY, packet.packet_id, address))
            email_id, status = cur.fetchone()
            if status == "sent":
                return "already_sent"
        else:
            email_id, status = claimed[0], "new"
    token = unsubscribe_token(secret, tenant(), address)
    message = build_memo_email(
        email_id=email_id, sender=sender, recipient=recipient, subject=subject,
        summary_lines=[f"Parcel {packet.parcel_id} in {county.name}, {county.state} scores "
                       f"{packet.bird_dog_score:.0f}/100.",
                       f"Estimated value ${packet.estimated_value:,.0f}; value gap {packet.value_gap_pct:.1f}%."],
        pdf=store.get(packet.object_path), pdf_name=f"memo-{packet.parcel_id}.pdf",
        unsubscribe_url=unsubscribe_url(sender.unsubscribe_base_url, token))
    delivery = outbox.already_delivered(message) if status != "new" else None
    outcome = "reconciled" if delivery else "sent"
    delivery = delivery or outbox.send(message)
    with wh.transaction() as conn, conn.cursor() as cur:
        cur.execute("UPDATE emails SET status = 'sent', provider_message_id = %s, outbox_path = %s, "
                    "sent_at = now(), error = NULL WHERE id = %s",
                    (delivery.provider_message_id, delivery.outbox_path, email_id))
    return outcome
