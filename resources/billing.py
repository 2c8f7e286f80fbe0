"""Billing's settings for the pipeline: Stripe's key, API base and the plans' prices (issue #11).

The daily `billing_reconcile` job (sensors/billing.py) receives this resource; its schedule's
default status (RUNNING only where billing is configured) reads the same resource when the
definitions load. `definitions.resources_for` builds it from the environment (`from_env`): the key
and API base as `dg.EnvVar`s when set (the UI shows where they come from, never the key), the
prices as values (price ids are not secrets). Tests construct it directly.

What the settings mean — `configured`, the client — is `accounts.billing.StripeSettings` and
`billing.stripe_client`, which the API and `reos billing reconcile` use too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import dagster as dg
from pydantic import Field

from realestate_assets.accounts.billing import StripeSettings, price_ids_from, stripe_client


def _value(field: str) -> str | None:
    """A field's value: an `EnvVar` is resolved (it is still one when the definitions load, before a
    run resolves it: its `str` is the variable's name, not its value)."""
    value = field.get_value() if isinstance(field, dg.EnvVar) else field
    return value or None


class BillingResource(dg.ConfigurableResource):
    """Stripe as the pipeline talks to it; empty `api_key`: billing is not configured."""

    api_key: str = Field(default="", description="Stripe secret key (STRIPE_API_KEY); empty: billing is not "
                                                 "configured")
    api_base: str = Field(default="", description="another server speaking Stripe's REST API (STRIPE_API_BASE); "
                                                  "empty: Stripe's")
    prices: dict[str, str] = Field(default_factory=dict, description="plan -> Stripe price id "
                                                                     "(STRIPE_PRICE_<PLAN>)")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BillingResource:
        environ = os.environ if environ is None else environ
        return cls(api_key=dg.EnvVar("STRIPE_API_KEY") if environ.get("STRIPE_API_KEY") else "",
                   api_base=dg.EnvVar("STRIPE_API_BASE") if environ.get("STRIPE_API_BASE") else "",
                   prices=price_ids_from(environ))

    def settings(self) -> StripeSettings:
        """The settings as the API and the CLI hold them (no webhook secret: the API's alone)."""
        return StripeSettings(api_key=_value(self.api_key), webhook_secret=None, prices=dict(self.prices),
                              api_base=_value(self.api_base))

    def client(self) -> Any:
        """`billing.stripe_client` on these settings; None when billing is not configured."""
        settings = self.settings()
        return stripe_client(settings.api_key, settings.api_base)
