"""A tenant's recipients, segments and campaigns (migration 0017): the one loader and the seed.

The `packets` and `emails` assets and `reos campaigns plan` read them here, for the run's tenant;
the API writes them. Rows become the same pydantic models the YAML files were validated with
(`config_models.Recipient`, `CampaignConfig`, `SegmentCriteria`), so a row the API accepted is a
row the pipeline can plan with, and one validation rule holds for both.

`config/recipients.yaml` and `config/campaigns.yaml` are only the seed of a tenant's tables
(`seed_from_config`, run by `reos demo` and `reos campaigns seed`): a table the tenant already
has rows in is left as it is, so edits made through the API are never overwritten.
The installation's sender and branding are in `recipients.yaml` (`sender:`); a tenant's own
(`tenant_settings`, migration 0028: display name, colour, logo, from and postal address) replace
them in its memos and emails, merged here (`TenantOutreach.sender`). Pacing, packets and the
financial assumptions stay in `campaigns.yaml`.

Functions take a psycopg2 cursor: the caller owns the transaction and its tenant scope (the API's
cursor runs under row-level security; the pipeline's as the table owner, filtered by tenant_id).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from psycopg2.extras import Json

from realestate_assets.config_models import (
    CampaignConfig,
    CampaignsConfig,
    OutreachConfig,
    Recipient,
    SegmentCriteria,
    Sender,
    TenantSettings,
)
from realestate_assets.db.warehouse import dict_rows

RECIPIENT_FIELDS = ("name", "email", "counties", "min_score", "property_types", "budget_min", "budget_max",
                    "campaigns", "alerts")
CAMPAIGN_FIELDS = ("key", "type", "subjects", "intro", "attach_pdf", "max_items", "categories", "link_ttl_days")
CAMPAIGN_STATUSES = ("draft", "active", "paused", "archived")
SETTINGS_FIELDS = tuple(TenantSettings.model_fields)


def recipient_model(row: dict[str, Any]) -> Recipient:
    """A `recipients` row as the planner's model (unknown columns such as id are ignored)."""
    return Recipient.model_validate({k: row[k] for k in RECIPIENT_FIELDS if row.get(k) is not None})


def recipient_values(recipient: Recipient) -> dict[str, Any]:
    """A validated recipient as column values: the address lower case, alerts as JSON."""
    data = recipient.model_dump(mode="json")
    return {**{k: data[k] for k in RECIPIENT_FIELDS}, "email": recipient.address}


def campaign_model(row: dict[str, Any], criteria: Any = None) -> CampaignConfig:
    """A `campaigns` row (with its segment's criteria, if any, and its chosen properties as
    `properties`, if any) as the planner's model. Only an active campaign is enabled: drafts,
    paused and archived campaigns send nothing."""
    return CampaignConfig.model_validate({
        **{k: row[k] for k in CAMPAIGN_FIELDS if row.get(k) is not None},
        "enabled": row.get("status") == "active",
        "segment": None if criteria is None else SegmentCriteria.model_validate(criteria),
        "properties": frozenset(row["properties"]) if row.get("properties") else None})


def read_recipients(cur: Any, tenant_id: str) -> list[Recipient]:
    cur.execute(f"SELECT {', '.join(RECIPIENT_FIELDS)} FROM recipients WHERE tenant_id = %s ORDER BY id",
                (tenant_id,))
    return [recipient_model(row) for row in dict_rows(cur)]


def read_campaigns(cur: Any, tenant_id: str) -> list[CampaignConfig]:
    """Every campaign of the tenant (oldest first: the first of a type wins, as in the YAML)."""
    cur.execute(f"SELECT {', '.join('c.' + f for f in CAMPAIGN_FIELDS)}, c.status, c.segment_id, s.criteria, "
                "(SELECT array_agg(p.county || ':' || p.prospect_key) FROM campaign_properties p "
                "WHERE p.campaign_id = c.id) AS properties "
                "FROM campaigns c LEFT JOIN segments s ON s.id = c.segment_id "
                "WHERE c.tenant_id = %s ORDER BY c.id", (tenant_id,))
    return [campaign_model(row, row["criteria"] if row["segment_id"] is not None else None)
            for row in dict_rows(cur)]


def read_tenant_settings(cur: Any, tenant_id: str) -> TenantSettings:
    """The tenant's settings row as the model; every value None (the installation's) without one."""
    cur.execute(f"SELECT {', '.join(SETTINGS_FIELDS)} FROM tenant_settings WHERE tenant_id = %s", (tenant_id,))
    found = dict_rows(cur)
    return TenantSettings.model_validate(found[0]) if found else TenantSettings()


def write_tenant_settings(cur: Any, tenant_id: str, settings: TenantSettings) -> None:
    """Every field of the row from the validated model (created on the first write)."""
    values = [Json(settings.feature_flags) if k == "feature_flags" else getattr(settings, k) for k in SETTINGS_FIELDS]
    cur.execute(f"INSERT INTO tenant_settings (tenant_id, {', '.join(SETTINGS_FIELDS)}) "
                f"VALUES (%s, {', '.join(['%s'] * len(SETTINGS_FIELDS))}) ON CONFLICT (tenant_id) DO UPDATE SET "
                f"{', '.join(f'{k} = EXCLUDED.{k}' for k in SETTINGS_FIELDS)}", (tenant_id, *values))


@dataclass(frozen=True)
class TenantOutreach:
    """What planning needs of a tenant: its recipients, its active campaigns and who its email is
    from. A suspended tenant (`suspended`: the platform admin's reason), or one that switched the
    `campaign_email` flag off, has no active campaign: nothing is planned, rendered for a plan or
    sent for it until it is resumed or switched on."""

    recipients: list[Recipient]
    campaigns: list[CampaignConfig]
    suspended: str | None = None
    sender: Sender | None = None  # the installation's sender with the tenant's settings applied
    settings: TenantSettings = field(default_factory=TenantSettings)


def load_tenant_outreach(conn: Any, tenant_id: str, sender: Sender | None = None) -> TenantOutreach:
    """The one loader the pipeline uses (`packets`, `emails`, `reos campaigns plan`); `sender`
    is the installation's (config/recipients.yaml), returned with the tenant's own values in it."""
    from realestate_assets.accounts.store import suspension

    with conn.cursor() as cur:
        recipients = read_recipients(cur, tenant_id)
        campaigns = [c for c in read_campaigns(cur, tenant_id) if c.enabled]
        suspended = suspension(cur, tenant_id)
        settings = read_tenant_settings(cur, tenant_id)
    sending = not suspended and settings.flag("campaign_email")
    return TenantOutreach(recipients=recipients, campaigns=campaigns if sending else [], suspended=suspended,
                          sender=None if sender is None else settings.apply(sender), settings=settings)


def _recipient_params(tenant_id: str, recipient: Recipient) -> tuple[Any, ...]:
    values = recipient_values(recipient)
    return (tenant_id, *[Json(values[k]) if k == "alerts" else values[k] for k in RECIPIENT_FIELDS])


def insert_recipient(cur: Any, tenant_id: str, recipient: Recipient) -> int | None:
    """A new recipient's id; None when the tenant already has that address."""
    cur.execute(f"INSERT INTO recipients (tenant_id, {', '.join(RECIPIENT_FIELDS)}) "
                f"VALUES (%s, {', '.join(['%s'] * len(RECIPIENT_FIELDS))}) "
                "ON CONFLICT (tenant_id, email) DO NOTHING RETURNING id", _recipient_params(tenant_id, recipient))
    row = cur.fetchone()
    return row[0] if row else None


def update_recipient(cur: Any, recipient_id: int, recipient: Recipient) -> None:
    """Every field of the row from the validated model (UniqueViolation when the address is taken)."""
    _, *values = _recipient_params("", recipient)
    cur.execute(f"UPDATE recipients SET {', '.join(f'{k} = %s' for k in RECIPIENT_FIELDS)} WHERE id = %s",
                (*values, recipient_id))


def upsert_recipient(cur: Any, tenant_id: str, recipient: Recipient) -> tuple[int, str]:
    """Insert, or update the row of the same address; (id, "created" | "updated" | "unchanged").
    Idempotent on the address: the same values again write nothing (no updated_at change)."""
    values = recipient_values(recipient)
    columns = ", ".join(RECIPIENT_FIELDS)
    kept = [k for k in RECIPIENT_FIELDS if k != "email"]
    placeholders = ", ".join(["%s"] * len(RECIPIENT_FIELDS))
    cur.execute(f"INSERT INTO recipients (tenant_id, {columns}) VALUES (%s, {placeholders}) "
                f"ON CONFLICT (tenant_id, email) DO UPDATE SET {', '.join(f'{k} = EXCLUDED.{k}' for k in kept)} "
                f"WHERE ({', '.join('recipients.' + k for k in kept)}) IS DISTINCT FROM "
                f"({', '.join('EXCLUDED.' + k for k in kept)}) "
                "RETURNING id, (xmax = 0) AS created", _recipient_params(tenant_id, recipient))
    row = cur.fetchone()
    if row is None:
        cur.execute("SELECT id FROM recipients WHERE tenant_id = %s AND email = %s", (tenant_id, values["email"]))
        return cur.fetchone()[0], "unchanged"
    return row[0], "created" if row[1] else "updated"


def insert_campaign(cur: Any, tenant_id: str, campaign: CampaignConfig, *, status: str,
                    segment_id: int | None = None) -> int | None:
    """A new campaign; None when the tenant already has one with that key."""
    data = campaign.model_dump(mode="json")
    cur.execute(f"INSERT INTO campaigns (tenant_id, {', '.join(CAMPAIGN_FIELDS)}, status, segment_id) "
                f"VALUES (%s, {', '.join(['%s'] * len(CAMPAIGN_FIELDS))}, %s, %s) "
                "ON CONFLICT (tenant_id, key) DO NOTHING RETURNING id",
                (tenant_id, *[data[k] for k in CAMPAIGN_FIELDS], status, segment_id))
    row = cur.fetchone()
    return row[0] if row else None


def seed_from_config(cur: Any, tenant_id: str, outreach: OutreachConfig, campaigns: CampaignsConfig
                     ) -> dict[str, int]:
    """The YAML's recipients and campaigns into a tenant's tables, each table only while the
    tenant has no row in it (so a re-run, or a tenant edited through the API, changes nothing).
    Campaigns enabled in the YAML start active, the others paused. Rows written, per table."""
    written = {"recipients": 0, "campaigns": 0}
    cur.execute("SELECT EXISTS (SELECT 1 FROM recipients WHERE tenant_id = %s), "
                "EXISTS (SELECT 1 FROM campaigns WHERE tenant_id = %s)", (tenant_id, tenant_id))
    has_recipients, has_campaigns = cur.fetchone()
    if not has_recipients:
        for recipient in outreach.recipients:
            upsert_recipient(cur, tenant_id, recipient)
            written["recipients"] += 1
    if not has_campaigns:
        for campaign in campaigns.campaigns:
            if insert_campaign(cur, tenant_id, campaign, status="active" if campaign.enabled else "paused"):
                written["campaigns"] += 1
    return written
