"""`packets` (investor documents in the object store) and `emails` (compliant, tracked, sent once).

Thin asset functions: read through resources, call the pure packages (`realestate_assets.docs`,
`realestate_assets.outreach`), write through resources, return metadata and checks.
"""


from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import pandas as pd
from psycopg2 import sql

from realestate_assets.accounts import quotas
from realestate_assets.assets.common import (
    Reported,
    audit_checks,
    check,
    county_asset,
    county_of,
    county_sales,
    reported,
    slice_rows,
    sync_metadata,
    table_metadata,
    tenant_params,
)
from realestate_assets.config_models import CampaignConfig, ScoringConfig, Sender
from realestate_assets.db.fingerprints import agree_secrets_in
from realestate_assets.db.warehouse import Audit, AuditResult, Warehouse, sync_partition
from realestate_assets.docs.context import MEMO_ROWS_SQL, MarketData, memo_context, portfolio_context
from realestate_assets.docs.memo import TEMPLATE_VERSIONS, RenderJob, inputs_hash, page_count, render_many
from realestate_assets.ml.on_demand import Explainer, Unexplainable, store_reasons
from realestate_assets.objects import ObjectStore, object_intact, tenant_key
from realestate_assets.outreach.campaigns import (
    CampaignPlanner,
    RecipientPlan,
    cap_emails,
    plan_county,
    planned_prospects,
    read_history,
    read_items,
    read_suppressed,
)
from realestate_assets.outreach.compliance import ComplianceError, link_problems, require_sendable
from realestate_assets.outreach.delivery import Deliverer
from realestate_assets.outreach.events import campaign_rates
from realestate_assets.outreach.messages import packet_link_token, packet_link_url, safe_filename
from realestate_assets.outreach.tenant_data import TenantOutreach, load_tenant_outreach
from resources import MailerResource, ObjectStoreResource, PlatformResource, WarehouseResource

TEMPLATE = "investor_memo"
PORTFOLIO_KEY = "_portfolio"
PACKET_COLUMNS = ["prospect_key", "template", "template_version", "inputs_hash", "object_path", "sha256",
                  "size_bytes", "generated_at", "bird_dog_score", "content_type", "url", "url_expires_at",
                  "page_count"]


def checksum_audit(store: ObjectStore) -> Audit:
    """Blocking, on the staged rows: every packet about to be published has its object, intact."""

    def audit(conn: Any, stage: str) -> list[AuditResult]:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("SELECT object_path, sha256 FROM {}").format(sql.Identifier(stage)))
            staged = cur.fetchall()
        mismatched = [path for path, digest in staged if not object_intact(store, path, digest)]
        return [AuditResult("packet_files_match_checksums", not mismatched,
                            f"{len(staged) - len(mismatched)} of {len(staged)} objects match",
                            metadata={"mismatched": dg.MetadataValue.json(mismatched[:20])})]

    return audit


def packet_path(tenant_id: str, county_key: str, prospect_key: str, template: str, digest: str) -> str:
    """The object key of a packet: under its tenant (packets carry tenant branding and are the
    tenant's alone), by county, prospect, template version and inputs digest. The prospect key (a
    parcel id, which may hold `/`, `..` or spaces) becomes one safe path segment."""
    return tenant_key(tenant_id, "packets", county_key, safe_filename(prospect_key),
                      f"{template}-v{TEMPLATE_VERSIONS[template]}-{digest[:12]}.pdf")


def reuse_verdict(previous: pd.Series | None, path: str, digest: str, store: ObjectStore) -> str:
    """`reuse` the stored packet, or why it is rendered: `new` (no packet yet, other inputs, or a
    key of an older layout) or `heal` (same inputs and key, but its object is missing or no longer
    matches its recorded sha256 — rendering it again is what lets the blocking checksum check pass
    on the next run instead of failing forever)."""
    if previous is None or previous["inputs_hash"] != digest or previous["object_path"] != path:
        return "new"
    return "reuse" if object_intact(store, path, previous["sha256"]) else "heal"


def _link_fresh(expires_at: object, ttl: timedelta) -> bool:
    if expires_at is None or pd.isna(expires_at):
        return False
    return pd.Timestamp(expires_at).to_pydatetime() > datetime.now(UTC) + ttl / 4


@county_asset(
    deps=["scores"],
    description="Investor documents (Jinja2 → WeasyPrint, SVG charts) for each property at or above the "
                "packet threshold that today's email plan sends — investor_memo and executive_summary by "
                "default — plus the county's portfolio_overview, stored in the object store with a "
                "time-limited link. Regenerated only when inputs or the template version change.",
    check_specs=[
        dg.AssetCheckSpec("packet_files_match_checksums", asset="packets", blocking=True,
                          description="every packet's object exists and its sha256 matches"),
        dg.AssetCheckSpec("every_candidate_has_a_packet", asset="packets",
                          description="one packet per template for every property at or above the packet threshold "
                                      "that today's email plan sends (the others are rendered when a plan "
                                      "takes them)"),
    ],
)
def packets(context: dg.AssetExecutionContext, platform: PlatformResource, warehouse: WarehouseResource,
            object_store: ObjectStoreResource) -> Reported:
    county = county_of(context, platform)
    wh, store = warehouse.get(), object_store.get()
    agree_secrets_in(wh, object_store.configured_secrets(), f"run {context.run_id}")  # the API verifies our links
    params = tenant_params(context, platform)
    with wh.transaction() as conn:  # over the plan: nothing is made for the tenant, the county goes on
        quota_block = quotas.blocked(conn, params["tenant"], "properties", "storage")
        room = quotas.headroom(conn, params["tenant"], "properties")  # within it: only what is left
    scoring = platform.scoring()
    settings = platform.campaigns()
    # The tenant's recipients, campaigns and sender (its branding over the installation's).
    audience = tenant_outreach(wh, params["tenant"], platform.outreach().sender)
    sender = audience.sender
    ttl = timedelta(hours=settings.packets.link_ttl_hours)
    # Memos asked for through the API (packet_requests): rendered whatever the plan or the score,
    # and before the planned ones, earliest asked first (the order the API reserved their storage
    # in, quotas.memo_refusal). {property: the templates asked for beyond the configured ones}.
    requested = {key: list(asked) for key, asked in wh.frame(
        "SELECT prospect_key, templates FROM packet_requests WHERE tenant_id = :tenant "
        "AND county = :county AND rendered_at IS NULL ORDER BY requested_at, id", params).itertuples(index=False)}
    rows = wh.frame(MEMO_ROWS_SQL, {**params, "threshold": scoring.packet_threshold, "requested": sorted(requested)})
    if quota_block:
        context.log.warning(f"tenant {params['tenant']}: no packets this run: {quota_block}")
        rows, requested = rows.iloc[:0], {}
    market = MarketData(county_sales(wh, params), scoring) if len(rows) else None
    existing = wh.frame(
        "SELECT prospect_key, template, inputs_hash, object_path, sha256, size_bytes, generated_at, "
        "content_type, url, url_expires_at, page_count FROM packets WHERE tenant_id = :tenant "
        "AND county = :county", params).set_index(["prospect_key", "template"])
    stored: dict[str, list[str]] = {}  # {property: the templates it has a document of}
    for key, template in existing.index:
        stored.setdefault(key, []).append(template)
    # Render only what will be read: the properties today's plan sends (the emails step's own
    # planning, over every property at or above the threshold, rendered or not). The others wait
    # until a plan takes them — pacing and digest sizes decide when — or are rendered on demand.
    plans = plan_county(county_key=county.key, campaigns=audience.campaigns, recipients=audience.recipients,
                        items=read_items(wh, params, county, threshold=scoring.packet_threshold, unrendered=True),
                        history=read_history(wh, params), now=datetime.now(UTC),
                        max_single_per_day=settings.pacing.max_single_emails_per_day,
                        suppressed=read_suppressed(wh, params["tenant"]))
    planned = planned_prospects(plans) | set(requested)
    # Those ranked past the reasons budget have none stored: explained now and stored, so their
    # memos and (next step) emails carry reasons.
    rows, on_demand = reasons_on_demand(context, wh, store, scoring, county.key, rows, planned)
    # One property whose documents cannot be made is recorded and skipped, never the county.
    failures: dict[str, str] = {}
    contexts: dict[str, dict] = {}
    for _, row in rows.iterrows():
        try:
            contexts[row["prospect_key"]] = memo_context(row, county, sender, market=market,
                                                         assumptions=settings.financial_assumptions)
        except Exception as exc:
            failures[row["prospect_key"]] = f"could not build the memo context: {type(exc).__name__}: {exc}"
    unread = {key for key in contexts if key not in planned}
    # No more new properties than the month's headroom, best-scored first; those already received
    # this month (memos asked for count when asked) are free. The rest wait, skipped with reason `quota`.
    candidates = [key for key in contexts if key not in unread]
    with wh.transaction() as conn:
        already = quotas.received_this_month(conn, params["tenant"], county.key, candidates)
    capped = quotas.cap(candidates, room, score=lambda k: contexts[k]["score"]["bird_dog_score"],
                        free=lambda k: k in already)
    for key in capped.skipped:
        del contexts[key]
    if capped.skipped:
        context.log.warning(f"tenant {params['tenant']}: {capped.reason}")
    # A property rendered gets its configured templates, those asked for, and those it has a
    # document of already (a document once asked for is kept current like the others: a new
    # template version or new inputs render it again; PacketSettings.for_property).
    wanted: list[tuple[str, str, dict, float]] = [
        (key, template, ctx, ctx["score"]["bird_dog_score"])
        for key, ctx in contexts.items() if key not in unread
        for template in settings.packets.for_property(requested.get(key, ()), stored.get(key, ()))]
    if settings.packets.portfolio_overview and contexts:
        top = list(contexts.values())[:settings.packets.portfolio_max_properties]
        wanted.append((PORTFOLIO_KEY, "portfolio_overview", portfolio_context(top, county, sender),
                       max(c["score"]["bird_dog_score"] for c in top)))

    records, jobs, healed = [], {}, []
    for key, template, ctx, score in wanted:
        digest = inputs_hash(template, ctx)
        previous = existing.loc[(key, template)] if (key, template) in existing.index else None
        path = packet_path(params["tenant"], county.key, key, template, digest)
        verdict = reuse_verdict(previous, path, digest, store)
        if verdict == "reuse":
            record = {"prospect_key": key, "template": template, **previous.to_dict(), "bird_dog_score": score}
            if not _link_fresh(previous["url_expires_at"], ttl):
                link = store.link(previous["object_path"], ttl)
                record.update(url=link.url, url_expires_at=link.expires_at)
            records.append(record)
            continue
        if verdict == "heal":
            healed.append(path)
        jobs[path] = (RenderJob(path, template, ctx), key, template, digest, score)
    # Storage is capped within the run too (the start only checks it is not used up), by the one
    # rule `quotas.cap`, twice: before rendering on each document's expected bytes
    # (`quotas.renderable`: the tenant's own recent sizes of the template, or a measured default;
    # the API's memo requests are refused by the same rule), so no render is spent past the plan;
    # after rendering on the real bytes, so an
    # estimate that was low never stores past it. Best-scored first while the bytes a document adds
    # fit (a re-rendered one adds its growth over the one it replaces); the rest are skipped with
    # reason `quota` like the properties above: not rendered when their expected bytes do not fit,
    # rendered but not stored when only their real bytes do not. The memos asked for come first
    # (the API accepted them on the room left after the requests before them: a planned property's
    # documents do not take it), earliest first; then the planned ones, best score first.
    asked_order = {key: i for i, key in enumerate(requested)}

    def rank(path: str) -> tuple[int, float]:
        key, score = jobs[path][1], jobs[path][4]
        return (1, -asked_order[key]) if key in asked_order else (0, score)

    with wh.transaction() as conn:
        rendering = quotas.renderable(conn, params["tenant"],
                                      {path: (template, _stored_bytes(existing, key, template))
                                       for path, (_, key, template, *_) in jobs.items()},
                                      score=rank)
    to_render, sizes = rendering.capped, rendering.sizes
    if to_render.skipped:
        context.log.warning(f"tenant {params['tenant']}: not rendered: {to_render.reason} "
                            f"(expected bytes a document: {sizes})")
    render_failures: dict[str, str] = {}
    pdfs = render_many([jobs[path][0] for path in to_render.kept], workers=settings.packets.render_workers,
                       photo_cache=platform.state_path / "photo_cache", failures=render_failures)
    with wh.transaction() as conn:
        space = quotas.headroom(conn, params["tenant"], "storage")
    added = {path: len(pdfs[path]) - _stored_bytes(existing, key, template)
             for path, (_, key, template, *_) in jobs.items() if path in pdfs}
    room_left = quotas.cap(list(added), space, score=rank, cost=added.__getitem__,
                           free=lambda p: added[p] <= 0)
    if room_left.skipped:
        context.log.warning(f"tenant {params['tenant']}: rendered, not stored: {room_left.reason}")
    over = set(to_render.skipped) | set(room_left.skipped)
    for path, (_, key, template, digest, score) in jobs.items():
        if path in over:
            continue
        if path not in pdfs:
            failures[f"{key}/{template}"] = f"could not render: {render_failures.get(path, 'no output')}"
            continue
        pdf = pdfs[path]
        stored = store.put(path, pdf, "application/pdf")
        link = store.link(stored.key, ttl)
        records.append({"prospect_key": key, "template": template, "inputs_hash": digest,
                        "object_path": stored.key, "sha256": stored.sha256, "size_bytes": stored.size_bytes,
                        "generated_at": datetime.now(UTC), "bird_dog_score": score,
                        "content_type": "application/pdf", "url": link.url, "url_expires_at": link.expires_at,
                        "page_count": page_count(pdf)})
    frame = pd.DataFrame(records, columns=[c for c in PACKET_COLUMNS if c != "template_version"] + ["template"])
    frame = frame.loc[:, ~frame.columns.duplicated()]
    frame["template_version"] = frame["template"].map(TEMPLATE_VERSIONS)
    with wh.transaction() as conn:
        # Packets are history (emails point at them): upsert, never delete.
        stats = sync_partition(conn, "packets", frame[PACKET_COLUMNS], tenant_id=params["tenant"],
                               county=county.key, keys=["prospect_key", "template"], delete_missing=False,
                               audit=checksum_audit(store))
        if stats.published:
            failed_keys = {name.split("/", 1)[0] for name in failures} | {jobs[p][1] for p in over}
            with conn.cursor() as cur:  # the memos asked for are there now
                cur.execute("UPDATE packet_requests SET rendered_at = now() WHERE tenant_id = %s AND county = %s "
                            "AND rendered_at IS NULL AND prospect_key = ANY(%s)",
                            (params["tenant"], county.key, sorted(set(requested) & set(contexts) - failed_keys)))
        with conn.cursor() as cur:  # the tenant received these properties this month (its plan's quota)
            received = quotas.record_properties(cur, params["tenant"], county.key,
                                                set(frame["prospect_key"]) - {PORTFOLIO_KEY}, "packet")
        # No public prospect status moves: a tenant's memos are its own (the API derives
        # `packeted` from its packets, api/v1/property_query.TENANT_STATUS).
    if healed:
        context.log.warning(f"{len(healed)} stored packets were missing or did not match their sha256 "
                            f"and were rendered again: {healed[:5]}")
    if failures:
        context.log.warning(f"{len(failures)} packets could not be made and were skipped: "
                            f"{dict(list(failures.items())[:5])}")
    all_packets = slice_rows(wh, "packets", params)
    memos = frame[frame["template"] == TEMPLATE]
    not_rendered = quotas.Capped([], [f"{jobs[p][1]}/{jobs[p][2]}" for p in to_render.skipped],
                                 f"{to_render.reason}, not rendered (expected bytes a document: {sizes})"
                                 if to_render.skipped else None)
    not_stored = quotas.Capped([], [f"{jobs[p][1]}/{jobs[p][2]}" for p in room_left.skipped],
                               f"{room_left.reason}, rendered but not stored" if room_left.skipped else None)
    skipped = quotas.joined(capped, not_rendered, not_stored)
    expected = ((len(rows) - len(unread) - len(capped.skipped)) * len(settings.packets.templates)
                - sum(jobs[p][2] in settings.packets.templates for p in over))
    current = int(frame["template"].isin(settings.packets.templates).sum())
    yield from reported(context, dg.MaterializeResult(
        metadata=table_metadata(
            "packets", all_packets, **sync_metadata(stats),
            lineage={"bird_dog_score": [("scores", "bird_dog_score")]},
            current_packets=len(frame), rendered_this_run=len(pdfs), failed_this_run=len(failures),
            failures=dg.MetadataValue.json(dict(list(failures.items())[:20])),
            reused_unchanged=len(frame) - len(pdfs), threshold=scoring.packet_threshold,
            quota_blocked=quota_block or "", properties_newly_received=received,
            **_skipped_metadata(skipped, str),
            not_rendered_storage=len(to_render.skipped), not_stored_storage=len(room_left.skipped),
            storage_estimate_bytes=dg.MetadataValue.json(sizes),
            not_rendered_not_planned=len(unread),
            not_rendered_reason="today's plan sends these properties to no one (no recipient takes them, or "
                                "pacing and digest sizes hold them for a later day): rendered when a plan "
                                "takes them",
            templates=dg.MetadataValue.json({t: TEMPLATE_VERSIONS[t] for t in frame["template"].unique()}),
            pages_rendered=int(sum(page_count(pdfs[p]) for p in pdfs)) if pdfs else 0,
            healed_this_run=len(healed), healed=dg.MetadataValue.json(healed[:20]),
            explained_on_demand=on_demand["explained"], reasons_on_demand=dg.MetadataValue.json(on_demand),
            # The object key only: a packet's link is a bearer credential (signed URL) and never
            # belongs in metadata, which everyone with UI access reads.
            example=memos["object_path"].iloc[0] if len(memos) else "none"),
        check_results=[
            *audit_checks(stats),
            check("every_candidate_has_a_packet", current == expected,
                  f"{current} packets for {len(rows) - len(unread)} properties at or above "
                  f"{scoring.packet_threshold:g} that today's plan sends × {len(settings.packets.templates)} "
                  f"templates ({len(unread)} not planned today: not rendered"
                  + (f"; {len(capped.skipped)} past the plan's headroom: skipped" if capped.skipped else "")
                  + (f"; {len(over)} documents past the plan's storage: not stored "
                     f"({len(to_render.skipped)} not rendered either)" if over else "") + ")"
                  + (f"; {len(failures)} could not be made (see `failures`)" if failures else "")),
        ],
    ))


def reasons_on_demand(context: dg.AssetExecutionContext, wh: Warehouse, store: ObjectStore, scoring: ScoringConfig,
                      county_key: str, rows: pd.DataFrame, planned: set[str]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """`rows` (MEMO_ROWS_SQL's) with reasons for the planned ones that have none (ranked past the
    reasons budget, ml/pipeline.py::explain_last_rank): explained from their score rows in one
    call (ml/on_demand.py) and stored in `scores.score_breakdown` in the same transaction, so a
    later run, the emails step and the API read them as stored. Models that cannot be loaded
    leave those memos without reasons, as before, and never fail the county."""
    missing = rows["score_breakdown"].map(lambda v: not isinstance(v, dict) or not v)
    keys = sorted(set(rows.loc[missing, "prospect_key"]) & planned)
    found: dict[str, Any] = {"asked": len(keys), "explained": 0, "stored": 0, "failed": ""}
    if not keys:
        return rows, found
    try:
        with wh.transaction() as conn, conn.cursor() as cur:
            explained = Explainer(scoring).explain(cur, store, county_key, keys)
            found["stored"] = store_reasons(cur, county_key, explained.values())
    except Unexplainable as exc:
        context.log.warning(f"{len(keys)} planned properties past the reasons budget keep their memos "
                            f"without reasons: {exc}")
        return rows, {**found, "failed": str(exc)}
    found["explained"] = len(explained)
    rows = rows.copy()
    rows["score_breakdown"] = [explained[key].breakdown if key in explained else value
                               for key, value in zip(rows["prospect_key"], rows["score_breakdown"], strict=True)]
    return rows, found


def _stored_bytes(existing: pd.DataFrame, key: str, template: str) -> int:
    """Bytes of the document a new render of (key, template) replaces (0: none yet)."""
    if (key, template) not in existing.index:
        return 0
    size = existing.loc[(key, template)]["size_bytes"]
    return 0 if pd.isna(size) else int(size)


def _skipped_metadata(capped: quotas.Capped[Any], describe: Callable[[Any], Any]) -> dict[str, Any]:
    """What a run left out past its plan's headroom, as materialization metadata."""
    found = capped.metadata(describe)
    return {**found, "skipped_quota_examples": dg.MetadataValue.json(found["skipped_quota_examples"])}


def tenant_outreach(wh: Any, tenant_id: str, sender: Sender) -> TenantOutreach:
    """The run's tenant's recipients, active campaigns and sender, from its tables (0017, 0028)."""
    with wh.transaction() as conn:
        return load_tenant_outreach(conn, tenant_id, sender)


def memo_links(*, secret: str | None, base_url: str, tenant: str, now: datetime
               ) -> Callable[[dict[str, Any], CampaignConfig], tuple[str, datetime] | None]:
    """An email's memo link: `/p/<token>` on the API, valid for the campaign's `link_ttl_days` (the
    API redirects each click to an object URL that lives minutes). No secret: no link."""

    def link_for(item: dict[str, Any], campaign: CampaignConfig) -> tuple[str, datetime] | None:
        if not secret or not item.get("object_path"):
            return None
        # Whole hours: every run within the hour writes the same links.
        expires = int((now + timedelta(days=campaign.link_ttl_days)).timestamp()) // 3600 * 3600
        token = packet_link_token(secret, tenant, item["object_path"], expires)
        return packet_link_url(base_url, token), datetime.fromtimestamp(expires, UTC)

    return link_for


def plan_summary(plans: list[RecipientPlan]) -> dict[str, Any]:
    """Per recipient: how many emails of each campaign, and the notes (pacing, suppressed, …)."""
    out: dict[str, Any] = {}
    for plan in plans:
        kinds = Counter(d.campaign.key for d in plan.emails if not d.again)
        out[plan.recipient.address] = {"new_emails": dict(kinds),
                                       "properties_in_digests": sum(len(d.items) for d in plan.emails
                                                                    if d.campaign.type == "daily_digest"
                                                                    and not d.again),
                                       "notes": plan.notes}
    return out


@county_asset(
    deps=[packets],
    description="Campaign emails (new opportunity, daily digest, weekly summary, custom alerts) to the "
                "recipients whose segment matches: at most N single-property emails per recipient a day "
                "(best first), the rest in that day's digest, a digest on a recipient's first run; memo "
                "links through the API (`/p/<token>`), plain-text and HTML parts, a postal-address footer "
                "and one-click unsubscribe. Outbox-pattern state machine keyed by (campaign, packet or "
                "digest, recipient): never sent twice; never to a suppressed address; refuses to send "
                "without a sender identity and postal address, or (mail leaving the machine) without "
                "REOS_PUBLIC_BASE_URL.",
    check_specs=[
        dg.AssetCheckSpec("no_email_to_suppressed_address", asset="emails", blocking=True,
                          description="no email sent to an address after it was suppressed (opt-out, bounce, spam)"),
        dg.AssetCheckSpec("no_email_left_unsent", asset="emails",
                          description="no email of this county stuck in pending/sending/failed"),
    ],
)
def emails(context: dg.AssetExecutionContext, platform: PlatformResource, warehouse: WarehouseResource,
           object_store: ObjectStoreResource, mailer: MailerResource) -> Reported:
    county = county_of(context, platform)
    wh, store, outbox = warehouse.get(), object_store.get(), mailer.get()
    agree_secrets_in(wh, mailer.configured_secrets(), f"run {context.run_id}")  # the API verifies our unsubscribes
    params = tenant_params(context, platform)
    with wh.transaction() as conn:  # over the plan: nothing is sent for the tenant, the county goes on
        quota_block = quotas.blocked(conn, params["tenant"], "emails")
        room = quotas.headroom(conn, params["tenant"], "emails")  # within it: only what is left
    settings = platform.campaigns()
    audience = tenant_outreach(wh, params["tenant"], platform.outreach().sender)
    sender = audience.sender
    link_secret = object_store.link_signing_secret()
    try:
        require_sendable(sender, require_https=outbox.provider != "outbox")
        problems = link_problems(provider=outbox.provider, public_base_url=object_store.public_base_url,
                                 link_secret_given=bool(object_store.link_secret))
        if problems:
            raise ComplianceError("sending refused: " + "; ".join(problems))
    except ComplianceError as exc:
        raise dg.Failure(str(exc)) from exc
    deliverer = Deliverer(wh, outbox, tenant_id=params["tenant"], county=county.key, sender=sender,
                          secret=mailer.signing_secret(), max_attempts=settings.sending_max_attempts,
                          unconfirmed_after=timedelta(hours=settings.unconfirmed_after_hours),
                          log=context.log.warning)
    reconciled = deliverer.reconcile()
    now = datetime.now(UTC)
    items = read_items(wh, params, county, threshold=platform.scoring().packet_threshold)
    portfolio = wh.frame("SELECT object_path FROM packets WHERE tenant_id = :tenant AND county = :county "
                         "AND template = 'portfolio_overview'", params).to_dict("records")
    planner = CampaignPlanner(county=county, sender=sender, recipients=audience.recipients,
                              items=items, now=now, load_object=store.get,
                              portfolio=portfolio[0] if portfolio else None,
                              link_for=memo_links(secret=link_secret, base_url=object_store.public_base_url,
                                                  tenant=params["tenant"], now=now))
    history = read_history(wh, params)
    plans = planner.plan(audience.campaigns, history,
                         max_single_per_day=settings.pacing.max_single_emails_per_day,
                         suppressed=read_suppressed(wh, params["tenant"]))
    if quota_block:
        context.log.warning(f"tenant {params['tenant']}: no emails this run: {quota_block}")
        plans = []
    capped = cap_emails(plans, history, room)
    if capped.skipped:
        context.log.warning(f"tenant {params['tenant']}: {capped.reason}")
    planned = planner.render(plans)
    if planner.failures:  # one email that cannot be planned is recorded and skipped, not the county
        context.log.warning(f"{len(planner.failures)} emails could not be planned: "
                            f"{dict(list(planner.failures.items())[:5])}")
    # The blocking check guards the action itself: it runs before anything is sent, and a county
    # whose history shows an email to a suppressed address sends nothing until that is explained.
    # (Each send re-checks suppressions in the transaction that claims it: Deliverer._start_sending.)
    suppressed_sent = deliverer.sent_after_suppression()
    counts = deliverer.deliver(planned) if suppressed_sent == 0 else Counter()
    with wh.transaction() as conn:  # `emailed` is the tenant's, derived from its emails: no public status moves
        rates = campaign_rates(conn, params["tenant"], county.key)
        received = quotas.record_emailed_properties(conn, params["tenant"], county.key, since=now)
    summary = wh.frame(
        "SELECT status, count(*) AS n FROM emails WHERE tenant_id = :tenant AND county = :county "
        "GROUP BY status", params).set_index("status")["n"].to_dict()
    stuck = sum(v for k, v in summary.items() if k in ("pending", "sending", "failed"))
    this_run = {k: int(counts.get(k, 0)) for k in ("sent", "already_sent", "suppressed", "failed",
                                                    "possibly_sent", "gave_up")}
    this_run["reconciled"] = int(reconciled.get("reconciled", 0))
    per_campaign = {k: {m: v[m] for m in ("sent", "bounced", "spam_reports", "unsubscribed") if m in v}
                    for k, v in rates.items() if not k.startswith("_")}
    yield from reported(context, dg.MaterializeResult(
        metadata=table_metadata(
            "emails", sum(summary.values()),
            lineage={"packet_id": [("packets", "id")], "packet_ids": [("packets", "id")]},
            **{f"{k}_this_run": v for k, v in this_run.items()},
            planned_this_run=len(planned), not_planned_this_run=len(planner.failures),
            not_planned=dg.MetadataValue.json(dict(list(planner.failures.items())[:20])),
            plan=dg.MetadataValue.json(dict(list(plan_summary(plans).items())[:50])),
            max_single_emails_per_day=settings.pacing.max_single_emails_per_day,
            status_counts=dg.MetadataValue.json({k: int(v) for k, v in summary.items()}),
            campaign_rates=dg.MetadataValue.json(rates),
            opt_outs_by_campaign=dg.MetadataValue.json(per_campaign),
            campaigns=dg.MetadataValue.json([c.key for c in audience.campaigns]),
            recipients=len(audience.recipients),
            # A suspended tenant's campaigns are off: the reason says why nothing was sent.
            tenant_suspended=audience.suspended or "",
            quota_blocked=quota_block or "", properties_newly_received=received,
            **_skipped_metadata(capped, lambda d: f"{d.campaign.key} {d.send_key}"),
            provider=outbox.provider),
        check_results=[
            check("no_email_to_suppressed_address", suppressed_sent == 0,
                  f"checked before sending: {suppressed_sent} emails sent to an address after it was suppressed"
                  + ("" if suppressed_sent == 0 else " — nothing sent this run"),
                  skipped_as_suppressed=int(counts.get("suppressed", 0))),
            check("no_email_left_unsent", stuck == 0, f"{stuck} emails pending, sending or failed",
                  severity="WARN"),
        ],
    ))
