"""The memo PDF, the email around it, the unsubscribe token, and the local object store/outbox."""

from __future__ import annotations

import io
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from pypdf import PdfReader

from realestate_assets.config_models import Recipient, Sender
from realestate_assets.docs.memo import inputs_hash, render_pdf
from realestate_assets.outreach.messages import (
    build_memo_email,
    unsubscribe_token,
    unsubscribe_url,
    verify_unsubscribe_token,
)
from resources.mailer import OutboxMailer
from resources.object_store import LocalObjectStore

SENDER = Sender(name="Deals", email="deals@example.com",
                postal_address="1301 Second Avenue, Seattle, WA 98101",
                unsubscribe_base_url="https://deals.example.com/unsubscribe")
RECIPIENT = Recipient(name="Avery", email="Avery@Example.com")


def memo_context() -> dict:
    return {
        "county": {"key": "king_wa", "name": "King County", "state": "WA"},
        "sender": {"name": "Deals"},
        "property": {"parcel_id": "0007600046", "address": None, "latitude": 47.6, "longitude": -122.3,
                     "use_type": "sfr", "living_sqft": 2290.0, "lot_sqft": 5160.0, "beds": 8.0,
                     "baths": 4.5, "bldg_grade": 7.0, "year_built": 1999, "effective_year_built": 1999,
                     "waterfront": False},
        "valuation": {"estimated_value": 612000.0, "comps_estimated_value": 598000.0, "comps_count": 7,
                      "comps_median_price_per_sqft": 261.0, "comps_value_spread_pct": 12.0,
                      "last_sale_price": 308900.0, "last_sale_date": "2011-02-22",
                      "last_sale_price_indexed": 455000.0, "value_gap_pct": 25.6,
                      "market_trend_12m_pct": 9.1, "model_mdape_pct": 11.5},
        "score": {"bird_dog_score": 91.0, "rank": 3, "as_of_date": "2016-12-22",
                  "model_version": "avm-king_wa-abc", "reasons": ["owned for 5.8 years since the last sale"],
                  "value_factors": [{"text": "living area of 2,290 sqft raises the estimate by 12.0%"}]},
        "sources": ["King County Department of Assessments"],
    }


def test_memo_pdf_carries_the_facts_and_reasons() -> None:
    pdf = render_pdf("investor_memo", memo_context())
    reader = PdfReader(io.BytesIO(pdf))
    text = " ".join(page.extract_text() for page in reader.pages)
    for expected in ("Parcel 0007600046", "$612,000", "owned for 5.8 years", "raises the estimate",
                     "not in the county file", "page 1 of"):
        assert expected in text, expected


def test_inputs_hash_changes_with_inputs_only() -> None:
    context = memo_context()
    assert inputs_hash("investor_memo", context) == inputs_hash("investor_memo", memo_context())
    context["score"]["bird_dog_score"] = 92.0
    assert inputs_hash("investor_memo", context) != inputs_hash("investor_memo", memo_context())


def test_unsubscribe_token_round_trip_and_forgery() -> None:
    token = unsubscribe_token("s3cret", "default", "Avery@Example.com")
    assert verify_unsubscribe_token("s3cret", token) == ("default", "avery@example.com")
    assert verify_unsubscribe_token("other", token) is None
    assert verify_unsubscribe_token("s3cret", token[:-2] + "xx") is None
    assert verify_unsubscribe_token("s3cret", "garbage") is None


def test_email_is_compliant_and_survives_the_outbox(tmp_path: Path) -> None:
    url = unsubscribe_url(SENDER.unsubscribe_base_url, unsubscribe_token("s", "default", RECIPIENT.email))
    message = build_memo_email(email_id=42, sender=SENDER, recipient=RECIPIENT, subject="Lead: parcel 1",
                               summary_lines=["Parcel 1 scores 91/100."], pdf=b"%PDF-1.7 test",
                               pdf_name="memo.pdf", unsubscribe_url=url)
    outbox = OutboxMailer(tmp_path)
    assert outbox.already_delivered(message) is None
    delivery = outbox.send(message)
    assert outbox.already_delivered(message) == delivery
    parsed = message_from_bytes(Path(delivery.outbox_path).read_bytes(), policy=policy.default)
    assert parsed["Message-ID"] == "<reos-email-42@example.com>"
    assert parsed["List-Unsubscribe"].startswith(f"<{url}>")
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    body = parsed.get_body(("plain",)).get_content()
    assert SENDER.postal_address in body and url in body
    (attachment,) = list(parsed.iter_attachments())
    assert attachment.get_content() == b"%PDF-1.7 test"


def test_local_object_store_is_atomic_checksummed_and_confined(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    stored = store.put("packets/a/b.pdf", b"data", "application/pdf")
    assert store.exists("packets/a/b.pdf") and store.get("packets/a/b.pdf") == b"data"
    assert stored.size_bytes == 4 and len(stored.sha256) == 64
    assert not list(tmp_path.rglob("*.partial"))
    with pytest.raises(ValueError, match="escapes"):
        store.put("../outside.pdf", b"x", "application/pdf")
