"""A tenant's settings over the installation's sender (config_models.TenantSettings), pure: only
the values set replace the installation's, the result is validated as a Sender, flags are a
fixed list with defaults; and a person's activation reads like the promotion rule's decisions."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from realestate_assets.config_models import Sender, TenantSettings
from realestate_assets.ml.promotion import MANUAL, manual_decision

INSTALLATION = Sender(name="Deals Desk", email="deals@reos.example", postal_address="1 Main St, Seattle, WA 98101",
                      unsubscribe_base_url="https://reos.example/u")


def test_only_the_values_set_replace_the_installations() -> None:
    merged = TenantSettings(display_name="Acme Capital", brand_color="#aa3300", from_email="x@acme.example",
                            logo_url="https://acme.example/l.png").apply(INSTALLATION)
    assert merged.branding.company == "Acme Capital" and merged.branding.color == "#aa3300"
    assert merged.branding.logo_url == "https://acme.example/l.png" and merged.email == "x@acme.example"
    assert merged.name == "Deals Desk" and merged.postal_address == INSTALLATION.postal_address
    assert TenantSettings().apply(INSTALLATION) == INSTALLATION


@pytest.mark.parametrize("bad", [{"brand_color": "red"}, {"from_email": "nobody"}, {"postal_address": "PO 1"},
                                 {"logo_url": "http://acme.example/l.png"}, {"feature_flags": {"no_such": True}},
                                 {"display_name": ""}])
def test_a_value_that_would_make_a_bad_sender_is_refused(bad: dict) -> None:
    with pytest.raises(ValidationError):
        TenantSettings.model_validate(bad)


def test_flags_take_their_default_until_set() -> None:
    assert TenantSettings().flag("campaign_email") is True
    assert TenantSettings(feature_flags={"campaign_email": False}).flag("campaign_email") is False


def test_a_manual_activation_is_recorded_like_the_rules_decisions() -> None:
    decision = manual_decision("  overvalues condos ", "ops@reos.example", "avm-2")
    assert decision.promote and decision.metric == MANUAL
    assert decision.reason == "activated by ops@reos.example in place of avm-2: overvalues condos"
    assert manual_decision("first", "ops@reos.example", None).reason == "activated by ops@reos.example: first"
