"""Object store: S3 (moto's real HTTP server, path-style like MinIO) and signed local links."""

from __future__ import annotations

import hashlib
import socket
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from resources.object_store import LocalObjectStore, ObjectStoreResource, verify_local_link


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def moto_endpoint():
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://localhost:{port}"  # a host name, not an IP: virtual-host style would not resolve
    server.stop()


def test_s3_round_trip_checksum_and_presigned_url(moto_endpoint: str) -> None:
    store = ObjectStoreResource(backend="s3", bucket="reos-packets", endpoint_url=moto_endpoint,
                                access_key_id="testing", secret_access_key="testing", region_name="us-east-1").get()
    assert store.client.meta.config.s3["addressing_style"] == "path"  # MinIO needs path-style
    store.client.create_bucket(Bucket="reos-packets")
    data = b"%PDF-1.7 memo " * 1000
    stored = store.put("packets/king_wa/p1/investor_memo-v2-abc.pdf", data, "application/pdf")
    assert stored.sha256 == hashlib.sha256(data).hexdigest() and stored.size_bytes == len(data)
    assert store.exists(stored.key) and not store.exists("packets/none.pdf")
    assert store.get(stored.key) == data
    head = store.client.head_object(Bucket="reos-packets", Key=stored.key)
    assert head["ContentType"] == "application/pdf" and head["Metadata"]["sha256"] == stored.sha256
    link = store.link(stored.key, timedelta(hours=24))
    assert link.url.startswith(f"{moto_endpoint}/reos-packets/packets/king_wa/")  # path-style URL
    assert "X-Amz-Expires=86400" in link.url
    response = httpx.get(link.url, timeout=10)
    assert response.status_code == 200 and response.content == data
    # (moto does not check pre-signed signatures or upload checksums; S3 and MinIO do.)


def test_s3_object_intact_notices_a_replaced_or_deleted_object(moto_endpoint: str) -> None:
    from realestate_assets.objects import object_intact, tenant_key

    store = ObjectStoreResource(backend="s3", bucket="reos-intact", endpoint_url=moto_endpoint,
                                access_key_id="testing", secret_access_key="testing", region_name="us-east-1").get()
    store.client.create_bucket(Bucket="reos-intact")
    stored = store.put(tenant_key("t1", "packets", "king_wa", "p1.pdf"), b"%PDF one", "application/pdf")
    assert object_intact(store, stored.key, stored.sha256)
    link = store.link(stored.key)
    assert "/reos-intact/tenants/t1/packets/king_wa/p1.pdf?" in link.url  # the link names exactly this key
    store.client.put_object(Bucket="reos-intact", Key=stored.key, Body=b"%PDF other")
    assert not object_intact(store, stored.key, stored.sha256)
    store.client.delete_object(Bucket="reos-intact", Key=stored.key)
    assert not object_intact(store, stored.key, stored.sha256)


def test_deleting_a_tenants_prefix_removes_its_objects_only(moto_endpoint: str, tmp_path: Path) -> None:
    from realestate_assets.objects import tenant_key, tenant_prefix

    s3 = ObjectStoreResource(backend="s3", bucket="reos-delete", endpoint_url=moto_endpoint,
                             access_key_id="testing", secret_access_key="testing", region_name="us-east-1").get()
    s3.client.create_bucket(Bucket="reos-delete")
    local = LocalObjectStore(tmp_path / "objects")
    for store in (s3, local):
        for i in range(3):
            store.put(tenant_key("gone", "packets", "king_wa", f"p{i}.pdf"), b"%PDF", "application/pdf")
        store.put(tenant_key("gone-too", "packets", "king_wa", "p.pdf"), b"%PDF", "application/pdf")  # a prefix of it
        assert store.delete_prefix(tenant_prefix("gone")) == 3
        assert not store.exists(tenant_key("gone", "packets", "king_wa", "p0.pdf"))
        assert store.exists(tenant_key("gone-too", "packets", "king_wa", "p.pdf"))
        assert store.delete_prefix(tenant_prefix("gone")) == 0


def test_local_links_are_signed_expire_and_are_served_by_the_api(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path, "http://testserver", secret="link-secret")
    store.put("packets/king_wa/a/memo.pdf", b"%PDF-1.7 local", "application/pdf")
    link = store.link("packets/king_wa/a/memo.pdf", timedelta(hours=1))
    from realestate_assets.api.app import ApiSettings, create_app

    client = TestClient(create_app(ApiSettings(database_url="postgresql://unused/x", link_secret="link-secret",
                                             objects_dir=str(tmp_path))))
    response = client.get(link.url)
    assert response.status_code == 200 and response.content == b"%PDF-1.7 local"
    assert response.headers["content-type"] == "application/pdf"
    assert client.get(link.url.replace("signature=", "signature=x")).status_code == 403
    expired = store.link("packets/king_wa/a/memo.pdf", timedelta(seconds=-5))
    assert client.get(expired.url).status_code == 403
    key, expires, signature = "packets/king_wa/a/memo.pdf", 2_000_000_000, "sig"
    assert not verify_local_link("link-secret", key, expires, signature)


def test_the_api_redirects_memo_links_into_the_pipelines_s3_bucket(moto_endpoint: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The API's object store is the pipeline's bucket (ApiSettings: S3_BUCKET, S3_ENDPOINT_URL…): a
    memo link answers a 303 to a pre-signed URL that lives minutes, from one S3 client per process."""
    from fastapi.testclient import TestClient

    from realestate_assets.api.app import ApiSettings, create_app
    from realestate_assets.outreach.messages import packet_link_token

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    pipeline = ObjectStoreResource(backend="s3", bucket="reos-api", endpoint_url=moto_endpoint,
                                   access_key_id="testing", secret_access_key="testing", region_name="us-east-1").get()
    pipeline.client.create_bucket(Bucket="reos-api")
    key = "tenants/default/packets/king_wa/p1/investor_memo.pdf"
    pipeline.put(key, b"%PDF-1.7 memo", "application/pdf")
    app = create_app(ApiSettings(database_url="postgresql://unused/x", link_secret="l" * 32, unsubscribe_secret="u",
                                 s3_bucket="reos-api", s3_endpoint_url=moto_endpoint))
    client = TestClient(app)
    token = packet_link_token("l" * 32, "default", key, int(time.time()) + 86400)
    answer = client.get(f"/p/{token}", follow_redirects=False)
    assert answer.status_code == 303
    target = answer.headers["location"]
    assert target.startswith(f"{moto_endpoint}/reos-api/{key}") and "X-Amz-Expires=600" in target
    assert httpx.get(target, timeout=10).content == b"%PDF-1.7 memo"
    assert app.state.reos.s3_store is app.state.reos.s3_store  # built once
