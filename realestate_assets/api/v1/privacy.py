"""A tenant takes its data with it (issue #11, privacy): `GET /tenant/export` answers a zip with
one CSV per tenant-owned table and the tenant's members, read through row-level security, so the
export cannot hold another tenant's row whatever the tables hold.

The tables are read from the catalog (`db.tenancy.tenant_owned_tables`): a table added later is
exported without touching this module. Credentials never leave: hashed secrets (API keys, refresh
tokens) are dropped by column name, and accounts are exported as the members' email and role.

`POST /recipients/{id}/erase` erases one recipient on request (`outreach/erasure.py`): name and
address leave every table; a hash of the address stays in the suppressions, so the address is
never emailed again, whatever imports it later. The audit row says what was erased, not who.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import StreamingResponse
from psycopg2 import sql
from pydantic import BaseModel, ConfigDict, Field

from realestate_assets.api.v1.problems import Problem, responses
from realestate_assets.api.v1.security import Context, needs
from realestate_assets.db.tenancy import tenant_owned_tables
from realestate_assets.outreach.erasure import erase_recipient

router = APIRouter(tags=["privacy"])
SECRET_COLUMNS = frozenset({"secret_hash", "token_hash", "password_hash", "secret"})  # secret: webhook signing
BATCH = 2000
CHUNK = 64 * 1024


class ZipResponse(StreamingResponse):
    media_type = "application/zip"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, default=str, sort_keys=True)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _write_table(cur: Any, archive: zipfile.ZipFile, table: str) -> int:
    """One table as CSV into the archive, in batches from a server-side cursor; rows written."""
    cur.execute(sql.SQL("SELECT * FROM {} LIMIT 0").format(sql.Identifier(table)))
    columns = [c.name for c in cur.description if c.name not in SECRET_COLUMNS]
    query = sql.SQL("SELECT {} FROM {} ORDER BY 1").format(sql.SQL(", ").join(map(sql.Identifier, columns)),
                                                          sql.Identifier(table))
    rows = 0
    with archive.open(f"{table}.csv", "w") as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as text, \
            cur.connection.cursor(name=f"export_{table}") as rows_cur:
        writer = csv.writer(text)
        writer.writerow(columns)
        rows_cur.itersize = BATCH
        rows_cur.execute(query)
        for row in rows_cur:
            writer.writerow([_cell(v) for v in row])
            rows += 1
    return rows


@router.get("/tenant/export", response_class=ZipResponse,
            responses={200: {"description": "A zip: <table>.csv for every tenant-owned table, members.csv, "
                                            "manifest.json (tenant, time, rows per file)",
                             "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}},
                       **responses(401, 403)},
            summary="Everything the tenant owns, as a zip of CSV files (one per table) and a manifest",
            description="Read through row-level security: no row of another tenant can be in it. Hashed "
                        "credentials are left out; members are exported as email and role.")
def export_tenant(ctx: Context = needs("admin")) -> ZipResponse:
    counts: dict[str, int] = {}
    # Spooled: small exports stay in memory, large ones go to a temporary file, never all in RAM.
    spool = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)  # noqa: SIM115 (closed by chunks())
    with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for table in tenant_owned_tables(ctx.cur):
            counts[table] = _write_table(ctx.cur, archive, table)
        ctx.cur.execute("SELECT u.email, m.role, m.created_at FROM memberships m JOIN users u ON u.id = m.user_id "
                        "ORDER BY u.email")
        members = ctx.cur.fetchall()
        with archive.open("members.csv", "w") as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as text:
            writer = csv.writer(text)
            writer.writerow(["email", "role", "member_since"])
            writer.writerows([[_cell(v) for v in row] for row in members])
        counts["members"] = len(members)
        archive.writestr("manifest.json", json.dumps({"tenant_id": ctx.tenant_id, "exported_at":
                                                      datetime.now(UTC).isoformat(), "rows": counts}, indent=2))
    ctx.audit("export", "tenant", ctx.tenant_id, after={"rows": counts})
    spool.seek(0)

    def chunks() -> Iterator[bytes]:
        with spool:
            while block := spool.read(CHUNK):
                yield block

    stamp = datetime.now(UTC).strftime("%Y%m%d")
    return ZipResponse(chunks(), headers={"Content-Disposition":
                                          f'attachment; filename="{ctx.tenant_id}-export-{stamp}.zip"'})


class ErasureOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"recipient_id": 7, "erased": True, "suppressed": True, "emails": 3, "events": 5, "audit_rows": 2}]})

    recipient_id: int
    erased: bool = Field(description="the recipient row is gone; name and address removed everywhere")
    suppressed: bool = Field(description="a hash of the address stays suppressed: it is never emailed again")
    emails: int = Field(description="emails rows whose address, name and personalized subject were removed")
    events: int = Field(description="provider events whose address and payload were removed")
    audit_rows: int = Field(description="earlier audit rows that quoted the name or address")


@router.post("/recipients/{recipient_id}/erase", response_model=ErasureOut, tags=["recipients"],
             responses=responses(401, 403, 404, 422),
             summary="Erase a recipient on request: name and address removed everywhere, the address kept "
                     "suppressed by hash")
def erase_recipient_route(recipient_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
                          ctx: Context = needs("admin")) -> dict[str, Any]:
    done = erase_recipient(ctx.cur, ctx.tenant_id, recipient_id)
    if done is None:
        raise Problem(404, f"no recipient {recipient_id} in this tenant")
    # No name, no address, no hash: the trail records that an erasure happened and what it touched.
    ctx.audit("erase", "recipients", recipient_id, after={"emails": done.emails, "events": done.events,
                                                         "audit_rows": done.audit_rows})
    return {"recipient_id": recipient_id, "erased": True, "suppressed": True, "emails": done.emails,
            "events": done.events, "audit_rows": done.audit_rows}
