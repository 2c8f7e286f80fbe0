"""GET /api/v1/tenant/export on real PostgreSQL: every tenant-owned table, none of another tenant's
rows, no hashed credential."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

from realestate_assets.db.tenancy import tenant_owned_tables
from tests.api.helpers_api import api_client, bearer, login, make_tenant, owner_cursor


def test_export_holds_every_table_of_the_tenant_and_nothing_of_another(database_url: str, tmp_path: Path) -> None:
    a, b = make_tenant(database_url, "export-a"), make_tenant(database_url, "export-b")
    with owner_cursor(database_url) as cur:
        tables = tenant_owned_tables(cur)
    with api_client(database_url, tmp_path) as client:
        viewer = bearer(login(client, a.users["viewer"]["email"])["access_token"])
        assert client.get("/api/v1/tenant/export", headers=viewer).status_code == 403
        owner = bearer(login(client, a.users["owner"]["email"])["access_token"])
        answer = client.get("/api/v1/tenant/export", headers=owner)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/zip"
    assert f'filename="{a.id}-export-' in answer.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["tenant_id"] == a.id and set(manifest["rows"]) == {*tables, "members"}
    everything = b""
    for table in tables:
        rows = list(csv.DictReader(io.StringIO(archive.read(f"{table}.csv").decode())))
        assert len(rows) == manifest["rows"][table] >= 1, table  # the seeds cover every table
        assert {r["tenant_id"] for r in rows} == {a.id}, table
        assert not {"secret_hash", "token_hash", "password_hash"} & set(rows[0]), table
        everything += archive.read(f"{table}.csv")
    assert b.id.encode() not in everything
    members = list(csv.DictReader(io.StringIO(archive.read("members.csv").decode())))
    assert {m["role"] for m in members} == {"owner", "admin", "analyst", "viewer"}
    assert all(m["email"].endswith(f"{a.id}@example.com") for m in members)
