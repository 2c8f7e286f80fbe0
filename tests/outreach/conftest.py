"""Fixtures of the outreach tests."""

from __future__ import annotations

import pytest

from resources.mailer import SendGridMailer
from tests.outreach.helpers_outreach import ScriptedServer, deliverer, email_rows, plan, recipient


@pytest.fixture
def sent(database_url: str, tenant: str) -> dict[str, int]:
    """Two emails sent through the SendGrid backend: address → email id."""
    with ScriptedServer() as server:
        deliverer(database_url, tenant, SendGridMailer("SG.k", server.url)).deliver(
            plan("daily:king_wa:2026-11-29", [recipient("avery@example.com"), recipient("blake@example.org")]))
    return {r["recipient_email"]: r["id"] for r in email_rows(database_url, tenant)}
