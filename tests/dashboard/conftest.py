"""Browser tests of the dashboard: assertions wait long enough for a busy machine.

Playwright's `expect` waits 5 s by default, whatever `page.set_default_timeout` says; a CI runner
shared with other jobs has answered a refetch after a write in more than that (the webhooks
settings test, with a benchmark running beside the suite). A passing assertion returns as soon
as it holds, so a longer ceiling costs nothing when the machine is idle.
"""

from __future__ import annotations

import pytest

EXPECT_TIMEOUT_MS = 20_000


@pytest.fixture(autouse=True, scope="session")
def _patient_expect() -> None:
    try:
        from playwright.sync_api import expect
    except ImportError:  # the browser tests skip themselves
        return
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
