"""What a run needs to know about its deployment: where configuration and local state live, and
the credentials the config files name.

No tenant: public county tables have none, and a tenant-owned asset (packets, emails) takes its
tenant from its (county × tenant) partition key (partitions/tenants.py, DESIGN.md §9).
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

from realestate_assets.config_models import (
    CampaignsConfig,
    CountyConfig,
    OutreachConfig,
    ScoringConfig,
    load_campaigns,
    load_county,
    load_outreach,
    load_scoring,
)
from realestate_assets.db.county_overrides import effective_county
from resources.warehouse import WarehouseResource


class PlatformResource(dg.ConfigurableResource):
    """The config directory (counties, scoring, campaigns…) and the local state directory; the
    warehouse, for the counties' run-time overrides (county_overrides)."""

    config_dir: str = Field(description="directory with counties/*.yaml, scoring.yaml, recipients.yaml, …")
    state_dir: str = Field(description="local state: HTTP and photo caches (per pod in production)")
    # The same warehouse the assets write (definitions.resources_for passes it). None: the files
    # alone, as a tool without a database reads them.
    warehouse: WarehouseResource | None = None

    @property
    def config_path(self) -> Path:
        return Path(self.config_dir)

    @property
    def state_path(self) -> Path:
        return Path(self.state_dir)

    def county(self, key: str) -> CountyConfig:
        """The county as this step runs it: its file, with the override a platform admin made
        through the API applied (read now, so an edit applies to the next step with no redeploy).
        The one place the pipeline reads a county; ConfigError when the file, or the file with the
        override, is invalid (assets/common.county_of disables the county with the reason)."""
        if self.warehouse is None:
            return load_county(self.config_path / "counties" / f"{key}.yaml")
        with self.warehouse.get().transaction() as conn, conn.cursor() as cur:
            return effective_county(cur, self.config_path, key)

    def scoring(self) -> ScoringConfig:
        return load_scoring(self.config_path)

    def outreach(self) -> OutreachConfig:
        return load_outreach(self.config_path)

    def campaigns(self) -> CampaignsConfig:
        return load_campaigns(self.config_path)


class SourceCredentialsResource(dg.ConfigurableResource):
    """Keys of outside data sources, and the Redis their limiters and caches share.

    The config files name each credential (`api_key_env: ATTOM_API_KEY`, `app_token_env:
    SOCRATA_APP_TOKEN`, `redis_url_env: REDIS_URL`); `by_name()` hands the domain code those
    names mapped to these values, so it never reads the process environment itself.
    """

    socrata_app_token: str = Field(default="", description="Socrata X-App-Token (optional)")
    attom_api_key: str = Field(default="", description="ATTOM property API key (unset: source skipped)")
    census_api_key: str = Field(default="", description="US Census API key (optional)")
    redis_url: str = Field(default="", description="Redis shared by rate limiters and HTTP caches "
                                                   "(unset: in-process limits, SQLite cache)")
    extra: dict[str, str] = Field(default_factory=dict, description="other credentials by the name a "
                                                                    "config file gives them")

    def by_name(self) -> dict[str, str]:
        named = {"SOCRATA_APP_TOKEN": self.socrata_app_token, "ATTOM_API_KEY": self.attom_api_key,
                 "CENSUS_API_KEY": self.census_api_key, "REDIS_URL": self.redis_url, **self.extra}
        return {name: value for name, value in named.items() if value}
