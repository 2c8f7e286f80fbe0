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


class PlatformResource(dg.ConfigurableResource):
    """The config directory (counties, scoring, campaigns…) and the local state directory."""

    config_dir: str = Field(description="directory with counties/*.yaml, scoring.yaml, recipients.yaml, …")
    state_dir: str = Field(description="local state: HTTP and photo caches (per pod in production)")

    @property
    def config_path(self) -> Path:
        return Path(self.config_dir)

    @property
    def state_path(self) -> Path:
        return Path(self.state_dir)

    def county(self, key: str) -> CountyConfig:
        return load_county(self.config_path / "counties" / f"{key}.yaml")

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
